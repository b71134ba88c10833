"""Is a `--teacher_url` a vLLM server serving the named model? Asked once, before any work.

A served teacher is scored through vLLM's `prompt_logprobs`, an extension other
OpenAI-compatible servers lack; without this check a wrong URL fails on the first batch
(after the dataset is tokenised) or after a minute of retries. vLLM answers `GET /v1/models`
with `{"object": "list", "data": [{"id": NAME, "owned_by": "vllm", ...}]}`; anything else is
refused with what was found instead.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from reasoning_distill.errors import ConfigError
from reasoning_distill.redact import public_url

logger = logging.getLogger(__name__)


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text[:120] + ("..." if len(text) > 120 else "")


def probe_vllm_server(base_url: str, model: str, timeout: float = 10.0) -> dict:
    """The model card `base_url/models` lists for `model`, or a `ConfigError` saying what
    answered (nothing, an HTTP error, not JSON, no model list, a server that is not vLLM,
    other models)."""
    import httpx

    shown = public_url(base_url)
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"--teacher_url {shown}: not an http(s) URL (e.g. http://HOST:8000/v1)")
    url = base_url.rstrip("/") + "/models"
    where = f"--teacher_url {shown}: GET {public_url(url)}"
    try:
        r = httpx.get(url, timeout=timeout)
    except httpx.TimeoutException:
        raise ConfigError(f"{where} had no answer within {timeout:g} s") from None
    except httpx.HTTPError as e:
        raise ConfigError(f"{where} failed ({type(e).__name__}: {e}): is the server up?") from None
    kind = r.headers.get("content-type", "no content-type").split(";")[0]
    server = r.headers.get("server")
    found = f"{kind}{f' from {server}' if server else ''}"
    if r.status_code != 200:
        raise ConfigError(
            f"{where} answered HTTP {r.status_code} ({found}: {_snippet(r.text)!r}); not a "
            f"vLLM server (give its base URL, e.g. http://HOST:8000/v1)"
        )
    try:
        body = r.json()
    except ValueError:
        raise ConfigError(
            f"{where} answered {found}, not JSON ({_snippet(r.text)!r}); not a vLLM server"
        ) from None
    data = body.get("data") if isinstance(body, dict) else None
    if not isinstance(data, list) or not all(isinstance(m, dict) for m in data):
        raise ConfigError(
            f"{where} answered JSON without a model list ({_snippet(r.text)!r}); not a vLLM server"
        )
    owners = sorted({str(m.get("owned_by")) for m in data})
    if "vllm" not in owners:
        raise ConfigError(
            f"{where} lists models owned by {owners}, not 'vllm': a served teacher needs "
            f"vLLM's prompt_logprobs, which other OpenAI-compatible servers lack"
        )
    for card in data:
        if card.get("id") == model:
            logger.info("teacher server %s serves %s", shown, model)
            return card
    served = sorted(str(m.get("id")) for m in data)
    raise ConfigError(f"--teacher_name {model}: the vLLM server at {shown} serves {served}")
