"""The OpenAI-compatible HTTP engine: any vLLM / SGLang server, or a hosted API.

One HTTP request per sample (`n=1` with that sample's own seed), so a resumed job asks for
exactly the missing samples and a retry repeats one sample, not a whole batch. Requests run
concurrently under a limit; 429, 408, 5xx answers, timeouts and dropped connections are retried
with exponential backoff and jitter (honouring `Retry-After`), other errors fail at once.
Servers that split the reasoning out (`reasoning_content`, or `reasoning` in newer vLLM) are
supported. The API key comes from an environment variable, never from a flag.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import threading
import time
from collections.abc import Sequence
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

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class PartialGenerationError(RuntimeError):
    """Some samples failed for good; `partial_results` holds those that finished.

    The job writes `partial_results` before re-raising, so finished work is never lost.
    """

    def __init__(self, message: str, partial_results: list[GenerationResult]):
        super().__init__(message)
        self.partial_results = partial_results


class _Fatal(Exception):
    """An answer that retrying cannot fix (bad request, auth, unknown model)."""


class OpenAIEngine:
    """Sample through an OpenAI-compatible `/chat/completions` (or `/completions`) endpoint.

    Args:
        model: the model name the server serves.
        base_url: e.g. `http://127.0.0.1:8000/v1` (default: $OPENAI_BASE_URL, else that).
        api_key_env: environment variable holding the API key (none sent if unset).
        concurrency: requests in flight at once.
        timeout: seconds for one request (reasoning traces are long: be generous).
        max_retries: retries per sample on 429 / 5xx / timeouts / connection errors.
        backoff_base, backoff_max: exponential backoff `base * 2**attempt`, capped, jittered.
        check: probe `GET /models` at construction so an unreachable server fails fast.
        vllm_extras: send `top_k` / `min_p` when set (vLLM and SGLang take them; OpenAI does not).
    """

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 32,
        timeout: float = 600.0,
        max_retries: int = 8,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        check: bool = True,
        vllm_extras: bool = True,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be >= 1, got {concurrency}")
        self.model = model
        self.base_url = (
            base_url or os.environ.get("OPENAI_BASE_URL") or "http://127.0.0.1:8000/v1"
        ).rstrip("/")
        self._api_key = os.environ.get(api_key_env) or None
        self.concurrency = concurrency
        self.timeout = timeout
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.vllm_extras = vllm_extras
        self.retries_done = 0  # how many retries this engine needed (for logs and tests)
        if check:
            self.check_server()

    # ---- plumbing ----------------------------------------------------------------------
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def check_server(self, attempts: int = 3) -> None:
        """Raise `ConnectionError` with a clear message if the server cannot be reached."""
        import httpx

        last: Exception | None = None
        for i in range(attempts):
            try:
                r = httpx.get(f"{self.base_url}/models", headers=self._headers(), timeout=10)
            except httpx.HTTPError as e:
                last = e
                time.sleep(0.5 * 2**i)
                continue
            if r.status_code in (401, 403):
                raise PermissionError(
                    f"{self.base_url}: the server refused the API key ({r.status_code}); set the "
                    "key's environment variable (--api-key-env, default OPENAI_API_KEY)"
                )
            return
        raise ConnectionError(
            f"cannot reach the OpenAI-compatible server at {self.base_url} ({type(last).__name__}: "
            f"{last}). Is it running and is --base-url right?"
        )

    def _body(
        self, req: GenerationRequest, params: SamplingParams, seed: int
    ) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model,
            "n": 1,
            "max_tokens": params.max_tokens,
            "temperature": params.temperature,
            "top_p": params.top_p,
            "seed": seed,
        }
        if params.stop:
            body["stop"] = list(params.stop)
        if self.vllm_extras:
            if params.top_k > 0:
                body["top_k"] = params.top_k
            if params.min_p > 0:
                body["min_p"] = params.min_p
        if req.messages is not None:
            body["messages"] = req.messages
            if params.logprobs:
                body["logprobs"] = True
                body["top_logprobs"] = params.logprobs
            return "/chat/completions", body
        body["prompt"] = req.prompt
        if params.logprobs:
            body["logprobs"] = params.logprobs
        return "/completions", body

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), self.backoff_max)
            except ValueError:
                pass  # an HTTP date: fall back to our own schedule
        cap = min(self.backoff_max, self.backoff_base * 2**attempt)
        # Equal jitter: at least half the backoff, so clients do not retry in lockstep.
        return cap / 2 + random.uniform(0, cap / 2)

    async def _post(
        self, client: Any, path: str, body: dict[str, Any], what: str
    ) -> dict[str, Any]:
        import httpx

        for attempt in range(self.max_retries + 1):
            retry_after = None
            try:
                r = await client.post(self.base_url + path, json=body)
            except (httpx.TimeoutException, httpx.TransportError) as e:
                reason = f"{type(e).__name__}: {e}"
            else:
                if r.status_code == 200:
                    return r.json()
                if r.status_code not in RETRY_STATUS:
                    raise _Fatal(
                        f"{what}: HTTP {r.status_code} from {self.base_url}{path}: {r.text[:500]}"
                    )
                reason = f"HTTP {r.status_code}"
                retry_after = r.headers.get("retry-after")
            if attempt == self.max_retries:
                raise RuntimeError(f"{what}: gave up after {self.max_retries} retries ({reason})")
            delay = self._delay(attempt, retry_after)
            self.retries_done += 1
            logger.info("%s: %s; retry %d in %.1fs", what, reason, attempt + 1, delay)
            await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    @staticmethod
    def _parse(data: dict[str, Any], chat: bool) -> tuple[Completion, int]:
        choice = data["choices"][0]
        usage = data.get("usage") or {}
        logprobs = None
        lp = choice.get("logprobs")
        if chat:
            msg = choice.get("message") or {}
            text = msg.get("content") or ""
            reasoning = msg.get("reasoning_content")
            if reasoning is None:
                reasoning = msg.get("reasoning")
            if lp and lp.get("content"):
                logprobs = [
                    {t["token"]: t["logprob"] for t in (tok.get("top_logprobs") or [tok])}
                    for tok in lp["content"]
                ]
        else:
            text, reasoning = choice.get("text") or "", None
            if lp and lp.get("top_logprobs"):
                logprobs = [dict(d or {}) for d in lp["top_logprobs"]]
        completion = Completion(
            index=-1,
            text=text,
            finish_reason="length" if choice.get("finish_reason") == "length" else "stop",
            completion_tokens=int(usage.get("completion_tokens", 0)),
            logprobs=logprobs,
            reasoning_content=reasoning,
        )
        return completion, int(usage.get("prompt_tokens", 0))

    async def _run(
        self, requests: Sequence[GenerationRequest], params: SamplingParams, task: Any
    ) -> tuple[list[GenerationResult], list[str]]:
        import httpx

        sem = asyncio.Semaphore(self.concurrency)
        results = [GenerationResult(r.request_id, "", 0) for r in requests]
        spans: list[list[float]] = [[] for _ in requests]
        errors: list[str] = []
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        timeout = httpx.Timeout(self.timeout, connect=min(10.0, self.timeout))

        async def one(i: int, k: int) -> None:
            req = requests[i]
            seed = sample_seed(params.seed, req.request_id, k)
            path, body = self._body(req, params, seed)
            async with sem:
                t0 = time.perf_counter()
                try:
                    data = await self._post(client, path, body, f"{req.request_id}#{k}")
                    comp, prompt_tokens = self._parse(data, chat=req.messages is not None)
                except Exception as e:  # collected: the other samples still finish and are kept
                    errors.append(str(e))
                    return
                spans[i] += [t0, time.perf_counter()]
            comp.index, comp.seed = k, seed
            results[i].completions.append(comp)
            results[i].prompt_tokens = prompt_tokens
            if req.prompt is not None:
                results[i].prompt = req.prompt
            task.advance(1, tokens=comp.completion_tokens)

        async with httpx.AsyncClient(
            limits=limits, timeout=timeout, headers=self._headers()
        ) as client:
            jobs = [
                one(i, k)
                for i, req in enumerate(requests)
                for k in (req.sample_indices if req.sample_indices is not None else range(params.n))
            ]
            await asyncio.gather(*jobs)
        for res, span in zip(results, spans, strict=True):
            res.completions.sort(key=lambda c: c.index)
            res.elapsed_s = (max(span) - min(span)) if span else 0.0
        return results, errors

    # ---- the Engine protocol -------------------------------------------------------------
    def generate(
        self,
        requests: Sequence[GenerationRequest],
        params: SamplingParams,
        progress: Progress | None = None,
    ) -> list[GenerationResult]:
        """Results in request order. Chat requests carry no rendered prompt (`prompt == ""`):
        the server applies the template."""
        total = sum(
            len(r.sample_indices) if r.sample_indices is not None else params.n for r in requests
        )
        with ensure(progress).task("sampling", total=total) as task:
            results, errors = _run_sync(self._run(requests, params, task))
        if errors:
            done = sum(len(r.completions) for r in results)
            shown = "\n  ".join(errors[:5])
            raise PartialGenerationError(
                f"{len(errors)} of {total} samples failed ({done} finished and are kept):\n  {shown}",
                [r for r in results if r.completions],
            )
        return results

    def close(self) -> None:
        pass

    def __enter__(self) -> OpenAIEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _run_sync(coro: Any) -> Any:
    """Run a coroutine from sync code, also when the caller already runs an event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(coro)
        except BaseException as e:  # re-raised in the caller's thread
            box["error"] = e

    t = threading.Thread(target=target)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box["value"]
