"""A teacher scored by vLLM's offline engine (`vllm.LLM`) through `prompt_logprobs`.

The same numbers as a served teacher (`served`) without a server: each sequence goes
into `LLM.generate` as token ids with `max_tokens=1` and `prompt_logprobs=k`, and the
answer's per-position top-k becomes a `TopK` (the mass outside the k tokens is the tail).
What vLLM brings for a large teacher on GPUs: batches packed by tokens (no padding), a paged
KV cache and tensor parallelism. On a CPU and a tiny model it is no faster than `HFTeacher`.

What the engine returns, and how it is read (`served.topk_from_entries`, shared):
- `prompt_logprobs[t]` is the distribution that predicted prompt token t (None for t = 0); our
  row t predicts token t + 1, so row t is entry t + 1.
- each entry holds the top-k tokens plus the prompt's own token when that one ranks lower:
  the k best by log-prob are kept.
- the log-probs are the model's raw (temperature 1) log-softmax: in vLLM 0.32 prompt tokens
  skip the sampling processors (temperature, penalties), so the raw and the processed
  log-prob modes give the same numbers. This teacher is therefore used at temperature 1 only.
- a k above the vocabulary is clamped to it (every token, no tail), as `HFTeacher` does; a k
  above the engine's `max_logprobs` is refused before the engine starts.

The engine starts on the first `score` call, not in the constructor: resuming a finished
cache costs no engine start. `close()` stops the engine's process.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from reasoning_distill.errors import ConfigError, InputError
from reasoning_distill.training.teachers.local import TopK, check_raw_logprob_source
from reasoning_distill.training.teachers.served import MissingLogprobs, topk_from_entries

logger = logging.getLogger(__name__)


def _entry_pairs(prompt_logprobs: Any) -> list:
    """Per position None or `(token, logprob)` pairs, from a `RequestOutput.prompt_logprobs`
    (vLLM's flat form, read without building a `Logprob` object per token, or a list of dicts).
    """
    if hasattr(prompt_logprobs, "start_indices"):  # vllm.logprobs.FlatLogprobs
        toks, lps = prompt_logprobs.token_ids, prompt_logprobs.logprobs
        # The flat form lists the top-k, then the prompt's own token, which is then listed
        # twice when it is among the top-k: one pair per token.
        return [
            dict(zip(toks[a:b], lps[a:b], strict=True)).items() if b > a else None
            for a, b in zip(prompt_logprobs.start_indices, prompt_logprobs.end_indices, strict=True)
        ]
    return [
        None if not e else [(tok, lp.logprob) for tok, lp in e.items()] for e in prompt_logprobs
    ]


class VLLMTeacher:
    """`TopKTeacher` over `vllm.LLM` (see the module docstring).

    Args:
        model: a local model folder (or a hub id, when the machine can reach the Hub).
        k: log-probs per position; the engine is started with `max_logprobs=k` unless
            `max_logprobs` is given (it must then be >= k; -1: the whole vocabulary).
        temperature: must be 1.0 (prompt log-probs are the raw distribution).
        batch_tokens: prompt tokens per `LLM.generate` call (one sequence at least). Every
            token brings k + 1 log-probs back as Python objects, about 100 bytes each in vLLM's
            flat lists, so this bounds the driver's memory (about 230 MB at the default and
            k = 128); vLLM schedules its own steps within each call.
        dtype, max_model_len, gpu_memory_utilization, enforce_eager, tensor_parallel_size,
            trust_remote_code: as in `vllm.LLM` and `generation.vllm_engine.VLLMEngine` (on a
            CPU build the KV cache size comes from `VLLM_CPU_KVCACHE_SPACE`, in GiB); further
            keyword arguments go to `vllm.LLM` unchanged.
    """

    def __init__(
        self,
        model: str | Path,
        k: int,
        temperature: float = 1.0,
        max_logprobs: int | None = None,
        batch_tokens: int = 16384,
        dtype: str = "auto",
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        enforce_eager: bool = False,
        tensor_parallel_size: int = 1,
        trust_remote_code: bool = False,
        **llm_kwargs: Any,
    ) -> None:
        check_raw_logprob_source(k, temperature, "a vLLM teacher")
        if max_logprobs is not None and max_logprobs != -1 and max_logprobs < k:
            raise ConfigError(
                f"k = {k} is above the engine's max_logprobs = {max_logprobs}: raise "
                f"max_logprobs to at least {k} (or -1 for the whole vocabulary) or lower k"
            )
        if str(llm_kwargs.get("logprobs_mode", "raw_logprobs")).endswith("logits"):
            raise ConfigError(
                f"logprobs_mode {llm_kwargs['logprobs_mode']!r} returns logits; a vLLM teacher "
                f"needs log-probs (raw_logprobs)"
            )
        from reasoning_distill.errors import refuse_out_of_range

        refuse_out_of_range(
            [
                ("batch_tokens", batch_tokens, batch_tokens >= 1, ">= 1"),
                ("max_model_len", max_model_len, max_model_len is None or max_model_len >= 2,
                 ">= 2"),
                ("gpu_memory_utilization", gpu_memory_utilization,
                 0 < gpu_memory_utilization <= 1, "in (0, 1]"),
                ("tensor_parallel_size", tensor_parallel_size, tensor_parallel_size >= 1, ">= 1"),
            ]
        )  # fmt: skip
        self.model = str(model)
        self.k, self.temperature, self.batch_tokens = k, temperature, batch_tokens
        self.llm_kwargs: dict[str, Any] = dict(
            max_logprobs=k if max_logprobs is None else max_logprobs,
            dtype=dtype,
            gpu_memory_utilization=gpu_memory_utilization,
            enforce_eager=enforce_eager,
            tensor_parallel_size=tensor_parallel_size,
            trust_remote_code=trust_remote_code,
            **llm_kwargs,
        )
        if max_model_len is not None:
            self.llm_kwargs["max_model_len"] = max_model_len
        self._llm: Any = None

    # ---- the engine ------------------------------------------------------------------------
    @property
    def llm(self) -> Any:
        """The `vllm.LLM`, started on first use."""
        if self._llm is None:
            from reasoning_distill.generation.vllm_engine import make_llm

            logger.info("starting vLLM for the teacher %s (%s)", self.model, self.llm_kwargs)
            try:
                self._llm = make_llm(self.model, self.llm_kwargs)
            except ValueError as e:  # vLLM's config checks (pydantic's errors are ValueErrors)
                reason = " ".join(str(e).split())
                raise ConfigError(
                    f"vLLM refused the teacher {self.model} with {self.llm_kwargs}: {reason}"
                ) from e
        return self._llm

    def close(self) -> None:
        """Stop the engine's process (a later `score` starts a new one)."""
        if self._llm is not None:
            from reasoning_distill.generation.vllm_engine import shutdown_llm

            shutdown_llm(self._llm)
            self._llm = None

    def __enter__(self) -> VLLMTeacher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- scoring ---------------------------------------------------------------------------
    def _batches(self, seqs: list[list[int]]) -> Iterator[range]:
        start, tokens = 0, 0
        for i, s in enumerate(seqs):
            if i > start and tokens + len(s) > self.batch_tokens:
                yield range(start, i)
                start, tokens = i, 0
            tokens += len(s)
        if start < len(seqs):
            yield range(start, len(seqs))

    def score(self, sequences: Sequence[Sequence[int]]) -> list[TopK]:
        import vllm
        from vllm.inputs import TokensPrompt

        seqs = [list(map(int, s)) for s in sequences]
        if not seqs:
            return []
        if any(len(s) == 0 for s in seqs):
            raise InputError("a vLLM teacher cannot score an empty token sequence")
        longest = max((len(s) for s in seqs), default=0)
        # A given max_model_len is checked before the engine starts; the model's own after.
        limit = (
            self.llm_kwargs.get("max_model_len") or self.llm.llm_engine.model_config.max_model_len
        )
        if longest >= limit:  # vLLM also needs room for the one generated token
            raise InputError(
                f"a sequence of {longest} tokens is too long for the vLLM teacher's "
                f"max_model_len {limit}: raise max_model_len above {longest}, or truncate the "
                f"sequences as the trainer does (max_length)"
            )
        config = self.llm.llm_engine.model_config
        vocab = config.get_vocab_size()
        k = min(self.k, vocab)  # as HFTeacher: at most every token
        params = vllm.SamplingParams(
            max_tokens=1,
            temperature=0.0,  # the one generated token is thrown away: greedy, no RNG
            prompt_logprobs=k,
            detokenize=False,  # k + 1 strings per position would cost more than the scores
            flat_logprobs=True,
        )
        out: list[TopK] = []
        for batch in self._batches(seqs):
            answers = self.llm.generate(
                [TokensPrompt(prompt_token_ids=seqs[i]) for i in batch], params, use_tqdm=False
            )
            for i, answer in zip(batch, answers, strict=True):
                try:
                    topk = topk_from_entries(_entry_pairs(answer.prompt_logprobs), len(seqs[i]), k)
                except MissingLogprobs as e:
                    raise RuntimeError(
                        f"vLLM returned {e} for sequence {i} ({len(seqs[i])} tokens)"
                    ) from None
                if k == vocab:  # every token is listed: no tail (not float32 rounding's)
                    topk.tail[:] = float("-inf")
                out.append(topk)
        return out
