"""The OpenAI-compatible HTTP engine: any vLLM / SGLang server, or a hosted API.

One HTTP request per sample (`n=1` with that sample's own seed), so a resumed job asks for
exactly the missing samples and a retry repeats one sample, not a whole batch. A fixed pool of
`concurrency` workers sends them and samples stream back as they finish (`OpenAIEngine.stream`),
so the server stays busy to the end of the job. 429, 408, 5xx answers, timeouts and dropped
connections are retried with exponential backoff and jitter (honouring `Retry-After`); other
errors fail at once.
Servers that split the reasoning out (`reasoning_content`, or `reasoning` in newer vLLM) are
supported. The API key comes from an environment variable, never from a flag.
"""

from __future__ import annotations

import asyncio
import logging
import os
import queue
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from reasoning_distill.errors import ConfigError
from reasoning_distill.generation.engine import (
    Completion,
    GenerationRequest,
    GenerationResult,
    IndexedStreamEngine,
    PartialResultsError,
    SamplingParams,
    sample_seed,
)
from reasoning_distill.redact import public_url, redact_urls, request_parts

logger = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})
_END = object()  # the end of a stream's queue


class ServerUnreachableError(ConfigError, ConnectionError):
    """The server named by `base_url` does not answer, or refuses our API key."""


class _Fatal(Exception):
    """An answer that retrying cannot fix (bad request, auth, unknown model)."""


class OpenAIEngine(IndexedStreamEngine):
    """Sample through an OpenAI-compatible `/chat/completions` (or `/completions`) endpoint.

    Args:
        model: the model name the server serves.
        base_url: e.g. `http://127.0.0.1:8000/v1` (default: $OPENAI_BASE_URL, else that).
            User-info in it (`user:pw@`) is sent as basic auth when no API key is set, and its
            query with every request; `self.base_url` keeps neither (it is what gets stored).
        api_key_env: environment variable holding the API key (none sent if unset).
        concurrency: requests in flight at once.
        timeout: seconds for one request (reasoning traces are long: be generous).
        max_retries: retries per sample on 429 / 5xx / timeouts / connection errors.
        backoff_base, backoff_max: exponential backoff `base * 2**attempt`, capped, jittered.
        check: probe `GET /models` at construction so an unreachable server fails fast.
        vllm_extras: send `top_k` / `min_p` when set (vLLM and SGLang take them; OpenAI does not).

    `generate` gives results in request order; chat requests carry no rendered prompt
    (`prompt == ""`): the server applies the template. A failure part-way says how many
    samples finished.
    """

    name = "openai"
    counts_finished_on_failure = True

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
            raise ConfigError(f"concurrency must be >= 1, got {concurrency}")
        self.model = model
        url = (base_url or os.environ.get("OPENAI_BASE_URL") or "http://127.0.0.1:8000/v1").rstrip(
            "/"
        )
        # Credentials in the URL (user-info, ?api_key=) are sent, never stored or logged:
        # `base_url` is the public form that manifests and messages carry.
        self.base_url = public_url(url)
        self._url, self._params, self._auth = request_parts(url)
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

    def _basic_auth(self) -> Any:
        """The URL's user-info as basic auth, unless an API key is set (its bearer wins)."""
        import httpx

        return httpx.BasicAuth(*self._auth) if self._auth and not self._api_key else None

    def check_server(self, attempts: int = 3) -> None:
        """Raise `ServerUnreachableError` (a `ConnectionError`) if the server cannot be reached."""
        import httpx

        last: Exception | None = None
        for i in range(attempts):
            try:
                r = httpx.get(
                    f"{self._url}/models",
                    headers=self._headers(),
                    params=self._params,
                    auth=self._basic_auth(),
                    timeout=10,
                )
            except httpx.HTTPError as e:
                last = e
                time.sleep(0.5 * 2**i)
                continue
            if r.status_code in (401, 403):
                raise ServerUnreachableError(
                    f"{self.base_url}: the server refused the API key ({r.status_code}); set the "
                    "key's environment variable (--api-key-env, default OPENAI_API_KEY)"
                )
            return
        raise ServerUnreachableError(
            f"cannot reach the OpenAI-compatible server at {self.base_url} ({type(last).__name__}: "
            f"{redact_urls(str(last))}). Is it running and is --base-url right?"
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
                r = await client.post(self._url + path, json=body)
            except (httpx.TimeoutException, httpx.TransportError) as e:
                reason = f"{type(e).__name__}: {e}"
            else:
                if r.status_code == 200:
                    return r.json()
                if r.status_code not in RETRY_STATUS:
                    raise _Fatal(
                        f"{what}: HTTP {r.status_code} from {self._url}{path}: {r.text[:500]}"
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

    async def _serve(
        self,
        items: Iterator[tuple[int, GenerationRequest, int]],
        params: SamplingParams,
        emit: Callable[[tuple[int, GenerationResult]], None],
        errors: list[str],
        stop: threading.Event,
    ) -> None:
        """`concurrency` workers take `(request index, request, sample index)` items in turn.

        A fixed pool, not a task per sample: a million-sample job holds `concurrency`
        coroutines. A sample that fails for good is recorded in `errors` and the rest go on.
        """
        import httpx

        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        timeout = httpx.Timeout(self.timeout, connect=min(10.0, self.timeout))

        async def worker(client: Any) -> None:
            for i, req, k in items:  # one shared iterator: the event loop runs one worker at a time
                if stop.is_set():
                    return
                seed = sample_seed(params.seed, req.request_id, k)
                path, body = self._body(req, params, seed)
                t0 = time.perf_counter()
                try:
                    data = await self._post(client, path, body, f"{req.request_id}#{k}")
                    comp, prompt_tokens = self._parse(data, chat=req.messages is not None)
                except Exception as e:  # collected: the other samples still finish and are kept
                    errors.append(str(e))
                    continue
                comp.index, comp.seed = k, seed
                # Chat requests carry no rendered prompt: the server applies the template.
                res = GenerationResult(
                    req.request_id,
                    req.prompt or "",
                    prompt_tokens,
                    [comp],
                    time.perf_counter() - t0,
                )
                emit((i, res))

        async with httpx.AsyncClient(
            limits=limits,
            timeout=timeout,
            headers=self._headers(),
            params=self._params,
            auth=self._basic_auth(),
        ) as client:
            await asyncio.gather(*(worker(client) for _ in range(self.concurrency)))

    def _stream_indexed(
        self, requests: Iterable[GenerationRequest], params: SamplingParams
    ) -> Iterator[list[tuple[int, GenerationResult]]]:
        """Run `_serve` on its own thread and event loop; yield what finished, as it finishes.

        Raises `PartialResultsError` at the end if samples failed for good (everything that
        finished was yielded first). A caller that stops early cancels what is in flight.
        """
        items = ((i, req, k) for i, req in enumerate(requests) for k in req.indices(params.n))
        finished: queue.Queue[Any] = queue.Queue()
        errors: list[str] = []
        stop = threading.Event()
        loop_box: dict[str, Any] = {}

        def target() -> None:
            async def main() -> None:
                loop_box["loop"], loop_box["task"] = (
                    asyncio.get_running_loop(),
                    asyncio.current_task(),
                )
                await self._serve(items, params, finished.put, errors, stop)

            try:
                asyncio.run(main())
            except asyncio.CancelledError:
                pass
            except BaseException as e:  # reported in the caller's thread
                errors.append(f"{type(e).__name__}: {e}")
            finally:
                finished.put(_END)

        thread = threading.Thread(target=target, name="openai-engine", daemon=True)
        thread.start()
        done = False
        try:
            while not done:
                batch = [finished.get()]
                while not finished.empty():
                    batch.append(finished.get_nowait())
                done = batch[-1] is _END
                batch = [b for b in batch if b is not _END]
                if batch:
                    yield batch
        finally:
            if not done:
                stop.set()
                loop, task = loop_box.get("loop"), loop_box.get("task")
                if loop is not None and task is not None:
                    loop.call_soon_threadsafe(task.cancel)
            thread.join()
        if errors:
            shown = "\n  ".join(errors[:5])
            raise PartialResultsError(f"{len(errors)} samples failed:\n  {shown}")
