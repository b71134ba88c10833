"""The transformers engine: batched `generate` for CPUs and small models.

Sequences are sorted by prompt length and left-padded; tiny models run with eager attention
(on CPU it samples left-padded batches much faster than SDPA). With `data_parallel > 1`
batches are spread over that many replica processes (`replicas.Replicas`) with one torch
thread each: small models are bound by per-op overhead, which threads inside one process do
not spread (`benchmarks/bench_generation.py` measures the two side by side).

Seeds: batched sampling draws from one generator, so a sample's text depends on the batch it
was drawn in (its recorded `seed` is the batch's). A resumed job therefore regenerates a
missing sample with a different text than the lost one would have had; it never duplicates
or changes a stored one. The vLLM and HTTP engines seed every sample on its own.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reasoning_distill.errors import ConfigError
from reasoning_distill.generation.engine import (
    Completion,
    EngineBase,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
    chunk_samples,
    sample_seed,
)
from reasoning_distill.generation.model_checks import check_generation_prompt
from reasoning_distill.generation.replicas import Replicas
from reasoning_distill.progress import Progress, ensure

logger = logging.getLogger(__name__)


@dataclass
class _Item:
    """One sample to produce: a request's prompt and one of its sample indices."""

    request: int
    index: int
    prompt_ids: list[int]
    seed: int


def _load_tokenizer(model_path: str) -> Any:
    from transformers import AutoTokenizer

    path = Path(model_path)
    if path.exists() and not (path / "config.json").exists():
        raise ConfigError(f"{path} has no config.json: not a model folder")
    tokenizer = AutoTokenizer.from_pretrained(model_path, padding_side="left")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _load_model(model_path: str, dtype: str, attn: str, threads: int | None, device: str) -> Any:
    import torch
    from transformers import AutoModelForCausalLM

    if threads:
        torch.set_num_threads(threads)
    model = AutoModelForCausalLM.from_pretrained(
        model_path, dtype=getattr(torch, dtype), attn_implementation=attn
    )
    model.to(device)
    model.eval()
    return model


def _load_replica(model_path: str, dtype: str, attn: str, device: str) -> tuple[Any, Any]:
    """A data-parallel replica's model and tokenizer, with one torch thread."""
    return _load_model(model_path, dtype, attn, 1, device), _load_tokenizer(model_path)


def _sample_job(state: tuple[Any, Any], job: tuple[list[_Item], SamplingParams]) -> Iterator[list]:
    """A replica's work: sample one batch (see `Replicas.run`)."""
    model, tokenizer = state
    items, params = job
    yield _sample_batch(model, tokenizer, items, params)


def _eos_ids(model, tokenizer) -> list[int]:
    eos = model.generation_config.eos_token_id
    ids = set(eos if isinstance(eos, list) else [eos] if eos is not None else [])
    if tokenizer.eos_token_id is not None:
        ids.add(tokenizer.eos_token_id)
    return sorted(ids)


def _sample_batch(model, tokenizer, items: list[_Item], params: SamplingParams) -> list[dict]:
    """Sample one batch; returns one dict per item (text, finish_reason, tokens)."""
    import torch

    eos_ids = _eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id
    width = max(len(it.prompt_ids) for it in items)
    input_ids = torch.full((len(items), width), pad, dtype=torch.long)
    attention = torch.zeros((len(items), width), dtype=torch.long)
    for row, it in enumerate(items):
        input_ids[row, width - len(it.prompt_ids) :] = torch.tensor(it.prompt_ids)
        attention[row, width - len(it.prompt_ids) :] = 1
    greedy = params.temperature == 0
    gen_kwargs: dict[str, Any] = dict(
        max_new_tokens=params.max_tokens,
        do_sample=not greedy,
        eos_token_id=eos_ids,
        pad_token_id=pad,
    )
    if not greedy:
        gen_kwargs.update(temperature=params.temperature, top_p=params.top_p)
        gen_kwargs["top_k"] = params.top_k if params.top_k > 0 else None
        if params.min_p > 0:
            gen_kwargs["min_p"] = params.min_p
    # Stop strings are applied to the completion text afterwards, not through transformers'
    # StopStringCriteria: that one also matches across the prompt boundary (a "\n\n" stop
    # fires on the first "\n" after a prompt ending in "\n"), which servers never do.
    # One seed per batch: batched sampling draws from one generator, so a sample is
    # reproducible given the same batch composition (recorded as its seed).
    torch.manual_seed(items[0].seed)
    with torch.inference_mode():
        out = model.generate(
            input_ids=input_ids.to(model.device),
            attention_mask=attention.to(model.device),
            **gen_kwargs,
        )
    new = out[:, width:].tolist()
    results = []
    eos_set = set(eos_ids)
    for ids in new:
        n_tok, reason = len(ids), "length"
        for j, t in enumerate(ids):
            if t in eos_set:
                n_tok, reason = j + 1, "stop"
                ids = ids[:j]
                break
        text = tokenizer.decode(ids, skip_special_tokens=False)
        if params.stop:
            # Like vLLM and OpenAI-compatible servers: cut at the first stop string, drop it.
            cut = min((i for i in (text.find(s) for s in params.stop) if i != -1), default=-1)
            if cut != -1:
                text, reason = text[:cut], "stop"
                n_tok = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        results.append(
            {"text": text, "finish_reason": reason, "tokens": n_tok, "seed": items[0].seed}
        )
    return results


class HFEngine(EngineBase):
    """Sample with transformers `generate`.

    Args:
        model: a local model folder or a Hugging Face hub id.
        batch_size: sequences per `generate` call.
        data_parallel: replica processes (one torch thread each, `replicas.Replicas`), started
            at the first call; 1 samples in-process.
        attn: attention implementation ("eager" is fastest for tiny models on CPU).
        device: "cpu", "cuda", ... (data-parallel workers use the same device).
    """

    name = "hf"

    def __init__(
        self,
        model: str | Path,
        batch_size: int = 64,
        data_parallel: int = 1,
        dtype: str = "float32",
        attn: str = "eager",
        threads: int | None = None,
        device: str = "cpu",
    ) -> None:
        self.model = str(model)
        self.device = device
        self.batch_size = batch_size
        self.data_parallel = data_parallel
        if batch_size < 1 or data_parallel < 1:
            raise ConfigError(
                f"batch_size and data_parallel must be >= 1, got {batch_size}, {data_parallel}"
            )
        self._dtype, self._attn = dtype, attn
        self.tokenizer = _load_tokenizer(self.model)
        # Before the weights load: such a template would make every sample wrong.
        check_generation_prompt(self.tokenizer, self.model)
        if getattr(self.tokenizer, "chat_template", None) is None:
            logger.warning("%s has no chat template: chat requests will fail", self.model)
        self._lm = _load_model(self.model, dtype, attn, threads, device)
        self._replicas: Replicas | None = None

    @property
    def dtype(self) -> str:
        """The dtype the weights were loaded in ("float32"), as the manifests record it."""
        return str(self._lm.dtype).removeprefix("torch.")

    def chunk_samples(self, params: SamplingParams) -> int:
        """Samples a job should ask for at once: a batch per replica, and on a CPU no more
        than about `CHUNK_TOKENS` tokens of completions per replica (a batch of 64 traces
        of 2048 tokens runs for the best part of an hour there: nothing would be written)."""
        per_replica = self.batch_size
        if self.device == "cpu":
            per_replica = chunk_samples(params, self.batch_size)
        return per_replica * self.data_parallel

    def _prompt_text(self, req: GenerationRequest) -> str:
        if req.prompt is not None:
            return req.prompt
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(
                f"{self.model}: the tokenizer has no chat template; pass raw prompts or a "
                "model whose tokenizer_config.json has one"
            )
        return self.tokenizer.apply_chat_template(
            req.messages, tokenize=False, add_generation_prompt=True
        )

    def _get_replicas(self) -> Replicas:
        if self._replicas is None or self._replicas.closed:
            factory = functools.partial(
                _load_replica, self.model, self._dtype, self._attn, self.device
            )
            self._replicas = Replicas(factory, self.data_parallel, name="transformers replica")
        return self._replicas

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        params: SamplingParams,
        progress: Progress | None = None,
    ) -> list[GenerationResult]:
        t0 = time.perf_counter()
        prompts = [self._prompt_text(r) for r in requests]
        prompt_ids = [self.tokenizer(p, add_special_tokens=False)["input_ids"] for p in prompts]
        items = [
            _Item(i, k, prompt_ids[i], sample_seed(params.seed, req.request_id, k))
            for i, req in enumerate(requests)
            for k in req.indices(params.n)
        ]
        items.sort(key=lambda it: (len(it.prompt_ids), it.request, it.index))
        batches = [items[i : i + self.batch_size] for i in range(0, len(items), self.batch_size)]
        outputs: dict[tuple[int, int], dict] = {}
        with ensure(progress).task("sampling", total=len(items)) as task:
            if self.data_parallel <= 1:
                for batch in batches:
                    outs = _sample_batch(self._lm, self.tokenizer, batch, params)
                    for it, o in zip(batch, outs, strict=True):
                        outputs[(it.request, it.index)] = o
                    task.advance(len(batch), tokens=sum(o["tokens"] for o in outs))
            else:
                jobs = ((b, params) for b in batches)
                for j, outs in self._get_replicas().run(_sample_job, jobs):
                    for it, o in zip(batches[j], outs, strict=True):
                        outputs[(it.request, it.index)] = o
                    task.advance(len(outs), tokens=sum(o["tokens"] for o in outs))
        elapsed = time.perf_counter() - t0
        results = []
        for i, req in enumerate(requests):
            indices = req.indices(params.n)
            comps = [
                Completion(
                    index=k,
                    text=outputs[(i, k)]["text"],
                    finish_reason=outputs[(i, k)]["finish_reason"],
                    completion_tokens=outputs[(i, k)]["tokens"],
                    seed=outputs[(i, k)]["seed"],
                )
                for k in indices
            ]
            results.append(
                GenerationResult(req.request_id, prompts[i], len(prompt_ids[i]), comps, elapsed)
            )
        return results

    def close(self) -> None:
        if self._replicas is not None:
            self._replicas.close()
            self._replicas = None
