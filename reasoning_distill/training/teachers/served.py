"""A teacher served by vLLM's OpenAI-compatible server, scored through `prompt_logprobs`.

So a large teacher can live on other GPUs (or another machine) while the student trains: each
sequence is sent as token ids to `/v1/completions` with `max_tokens=1` and
`prompt_logprobs=k`, and the answer's per-position top-k becomes a `TopK` (the mass outside
the k tokens is the tail bucket, so every token still counts, unlike a loss restricted to two
tokens per position). The server must allow that many log-probs: start it with
`--max-logprobs K` (vLLM's default is 20).

What the server returns, and how it is read:
- `prompt_logprobs[t]` is the distribution that predicted prompt token t (None for t = 0); our
  row t predicts token t + 1, so row t is entry t + 1.
- each entry holds the top-k tokens plus the prompt's own token when that one ranks lower:
  the k best by log-prob are kept.
- the log-probs are the model's raw (temperature 1) distribution, so a served teacher is
  used at temperature 1 only.

Requests go out in parallel (`concurrency` threads); 408/429/5xx answers and dropped
connections are retried with exponential backoff. Before training, `check_reachable` asks the
server for its models once, without retries, so a server that is down or serves another name
is said at once; a reply without vLLM's `prompt_logprobs` is a `ServedTeacherError` naming
what came instead.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from reasoning_distill.errors import UserError
from reasoning_distill.training.teachers.local import TopK, check_raw_logprob_source, tail_from_topk

logger = logging.getLogger(__name__)

RETRY_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504})


class ServedTeacherError(UserError, RuntimeError):
    """The server cannot be reached, refused a request (not a transient failure), kept
    failing, or answered with something other than prompt log-probs: the CLI says it in one
    line (a server to start, a URL, a model name or `--max-logprobs` to fix)."""


class MissingLogprobs(ValueError):
    """A `prompt_logprobs` entry at `position` held `found` log-probs, fewer than asked."""

    def __init__(self, position: int, found: int, wanted: int) -> None:
        super().__init__(f"{found} log-probs at position {position}, asked for {wanted}")
        self.position, self.found, self.wanted = position, found, wanted


def topk_from_entries(
    entries: Sequence[Iterable[tuple[int, float]] | None], length: int, k: int
) -> TopK:
    """A TopK of `length - 1` rows from per-position `(token, logprob)` pairs, vLLM's
    `prompt_logprobs` convention: entry t predicted prompt token t (None at t = 0), so row t
    is entry t + 1. An entry may hold k + 1 pairs (the prompt's own token when it ranks
    below the k best): the k best by log-prob are kept (ties: the higher token id first).

    Raises `MissingLogprobs` for an entry with fewer than k pairs (or none) and for fewer
    than `length` entries; the callers turn it into their own error with the remedy.
    """
    n = max(length - 1, 0)
    ids = np.zeros((n, k), dtype=np.int64)
    lps = np.zeros((n, k), dtype=np.float32)
    if len(entries) < length:
        raise MissingLogprobs(len(entries), 0, k)
    for t in range(n):
        entry = entries[t + 1]
        best = sorted(((float(lp), int(tok)) for tok, lp in entry or ()), reverse=True)
        if len(best) < k:
            raise MissingLogprobs(t + 1, len(best), k)
        best = best[:k]
        ids[t] = [tok for _, tok in best]
        lps[t] = [lp for lp, _ in best]
    return TopK(ids, lps, tail_from_topk(lps))


def parse_prompt_logprobs(entries: list, length: int, k: int) -> TopK:
    """A TopK of `length - 1` rows from a completion choice's `prompt_logprobs`."""
    if len(entries) < length:
        raise ServedTeacherError(
            f"server returned prompt_logprobs for {len(entries)} positions, expected {length}"
        )
    try:
        pairs = [
            None if not e else [(int(tok), float(v["logprob"])) for tok, v in e.items()]
            for e in entries
        ]
    except (AttributeError, KeyError, TypeError, ValueError) as e:
        raise ServedTeacherError(
            f"server returned prompt_logprobs not of vLLM's shape ({{token: {{logprob}}}} per "
            f"position): {type(e).__name__} {e}"
        ) from None
    try:
        return topk_from_entries(pairs, length, k)
    except MissingLogprobs as e:
        if e.found == 0:
            raise ServedTeacherError(
                f"server returned no prompt_logprobs at position {e.position}"
            ) from None
        raise ServedTeacherError(
            f"server returned {e.found} log-probs at position {e.position}, asked for {k}: "
            f"start it with --max-logprobs {k} or lower k"
        ) from None


class ServedTeacher:
    """`TopKTeacher` over an OpenAI-compatible vLLM server (see the module docstring)."""

    def __init__(
        self,
        base_url: str,
        model: str,
        k: int,
        temperature: float = 1.0,
        concurrency: int = 8,
        timeout: float = 300.0,
        max_retries: int = 5,
        api_key: str | None = None,
    ) -> None:
        check_raw_logprob_source(k, temperature, "a served teacher")
        self.base_url = base_url.rstrip("/")
        self.model, self.k, self.temperature = model, k, temperature
        self.concurrency, self.timeout, self.max_retries = concurrency, timeout, max_retries
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    def _post(self, client, ids: list[int]) -> list:
        import httpx

        body = {
            "model": self.model,
            "prompt": ids,
            "max_tokens": 1,
            "temperature": 0.0,
            "prompt_logprobs": self.k,
        }
        delay = 0.5
        for attempt in range(self.max_retries + 1):
            try:
                r = client.post(f"{self.base_url}/completions", json=body, headers=self.headers)
            except (httpx.TransportError, httpx.TimeoutException) as e:
                if attempt == self.max_retries:
                    raise ServedTeacherError(f"{self.base_url}: {e}") from e
            else:
                if r.status_code == 200:
                    return self._prompt_logprobs(r)
                if r.status_code not in RETRY_STATUS or attempt == self.max_retries:
                    raise ServedTeacherError(
                        f"{self.base_url}/completions answered {r.status_code}: {r.text[:300]}"
                    )
            time.sleep(delay * (1 + random.random()))
            delay = min(delay * 2, 30.0)
        raise ServedTeacherError(f"{self.base_url}: gave up after {self.max_retries} retries")

    def _prompt_logprobs(self, response) -> list:
        """`choices[0].prompt_logprobs` of a 200 answer, or a `ServedTeacherError` saying what
        came instead (a server that is not vLLM's, or one that ignores `prompt_logprobs`)."""
        try:
            entries = response.json()["choices"][0]["prompt_logprobs"]
        except (ValueError, KeyError, IndexError, TypeError):
            entries = None
        if not isinstance(entries, list):
            raise ServedTeacherError(
                f"{self.base_url}/completions answered without choices[0].prompt_logprobs "
                f"({response.text[:200]!r}): the teacher must be a vLLM OpenAI-compatible server"
            )
        return entries

    def check_reachable(self, timeout: float = 10.0) -> None:
        """Ask the server for its models once, without retries: an unreachable server or a
        model it does not serve is a `ServedTeacherError` now, not after minutes of backoff."""
        import httpx

        url = f"{self.base_url}/models"
        try:
            r = httpx.get(url, headers=self.headers, timeout=timeout)
        except (httpx.TransportError, httpx.TimeoutException) as e:
            raise ServedTeacherError(
                f"cannot reach the served teacher at {self.base_url} ({e}): start the vLLM "
                f"server, or fix teacher_url"
            ) from e
        if r.status_code != 200:
            logger.warning("%s answered %d; its models are not checked", url, r.status_code)
            return
        try:
            served = [m["id"] for m in r.json()["data"]]
        except (ValueError, KeyError, TypeError):
            logger.warning("%s did not list models; the teacher's name is not checked", url)
            return
        if self.model not in served:
            raise ServedTeacherError(
                f"the server at {self.base_url} serves {served}, not {self.model!r}: fix "
                f"teacher_name"
            )

    def score(self, sequences: Sequence[Sequence[int]]) -> list[TopK]:
        import httpx

        seqs = [list(map(int, s)) for s in sequences]
        with (
            httpx.Client(timeout=self.timeout) as client,
            ThreadPoolExecutor(max_workers=max(1, self.concurrency)) as pool,
        ):
            answers = list(pool.map(lambda s: self._post(client, s), seqs))
        return [
            parse_prompt_logprobs(a, len(s), self.k) for a, s in zip(answers, seqs, strict=True)
        ]
