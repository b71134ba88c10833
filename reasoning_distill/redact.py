"""URLs fit to store or log: no user-info, no secret-looking query values.

A user may put credentials in a server URL (`http://user:pw@host/v1`, `...?api_key=...`).
They are used for the request (`request_parts`) and never written: every URL that reaches a
results file, a manifest, a card or a log line goes through `public_url` (or, inside free
text, `redact_urls`) first.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

REDACTED = "REDACTED"

# Query parameter names whose values are credentials (api_key, access_token, X-Amz-Signature,
# password, sig, client_secret, auth, ...).
_SECRET_NAME = re.compile(r"key|token|secret|passw|pwd|auth|sig|credential|session", re.I)
# A URL in free text; one slash too, as a URL passed through a Path comes back (`http:/u:pw@h`).
_URL_IN_TEXT = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.\-]*:/{1,2})(?P<rest>[^\s'\"<>`]+)")
_USERINFO = re.compile(r"^[^/@?#]*@")


def _is_secret(name: str) -> bool:
    return bool(_SECRET_NAME.search(name))


def _host(netloc: str) -> str:
    return netloc.rpartition("@")[2]


def public_url(url: str) -> str:
    """`url` without user-info and with the values of secret-looking query parameters
    replaced by REDACTED; anything that is not a URL is returned as it is."""
    if not isinstance(url, str) or "://" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: keep only what cannot be a secret
        scheme, _, rest = url.partition("://")
        host = _host(rest.split("/", 1)[0].split("?", 1)[0])
        return f"{scheme}://{host}/{REDACTED}"
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        query = urlencode([(k, REDACTED if _is_secret(k) else v) for k, v in pairs], safe="/:")
    return urlunsplit((parts.scheme, _host(parts.netloc), parts.path, query, parts.fragment))


def redact_urls(text: str) -> str:
    """Free text with every URL in it made public (`public_url`)."""
    if not isinstance(text, str) or ":/" not in text:
        return text

    def one(m: re.Match) -> str:
        if m["scheme"].endswith("//"):
            return public_url(m.group(0))
        return m["scheme"] + _USERINFO.sub("", m["rest"])

    return _URL_IN_TEXT.sub(one, text)


def public_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of an options mapping with every string value's URLs made public."""
    return {k: redact_urls(v) if isinstance(v, str) else v for k, v in options.items()}


def request_parts(url: str) -> tuple[str, list[tuple[str, str]], tuple[str, str] | None]:
    """(base URL without user-info or query, the query's pairs, (user, password) or None).

    What a client needs to send a request to `url` + a path, credentials included, while the
    URL it would log holds none: the query goes as parameters and user-info as basic auth.
    """
    from urllib.parse import unquote

    parts = urlsplit(url)
    auth = None
    if parts.username is not None or parts.password is not None:
        auth = (unquote(parts.username or ""), unquote(parts.password or ""))
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    base = urlunsplit((parts.scheme, _host(parts.netloc), parts.path.rstrip("/"), "", ""))
    return base, pairs, auth


class RedactingFilter(logging.Filter):
    """A handler filter that makes every URL in a log line public (`redact_urls`).

    The CLI puts it on its log handlers, so a URL a library logs as given (a served teacher's,
    a judge's) shows without credentials.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record: let logging report it as it would
            return True
        if ":/" in message:
            record.msg, record.args = redact_urls(message), None
        return True


def redact_handlers(logger: logging.Logger | None = None) -> None:
    """Put one `RedactingFilter` on each handler of `logger` (default: the root logger)."""
    for handler in (logger or logging.getLogger()).handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
