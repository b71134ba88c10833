"""URLs as stored and logged: user-info and secret query values never survive."""

from __future__ import annotations

import pytest

from reasoning_distill.redact import (
    REDACTED,
    public_options,
    public_url,
    redact_urls,
    request_parts,
)

CASES = [
    ("http://127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
    ("http://user:SECRET@127.0.0.1:8000/v1", "http://127.0.0.1:8000/v1"),
    ("https://SECRET@api.example.com/v1", "https://api.example.com/v1"),
    ("http://u:p%40SECRET@h:1/v1?api_key=SECRET2", f"http://h:1/v1?api_key={REDACTED}"),
    ("http://h/v1?api-version=2024&token=SECRET", f"http://h/v1?api-version=2024&token={REDACTED}"),
    ("http://h/v1?X-Amz-Signature=SECRET&x=1", f"http://h/v1?X-Amz-Signature={REDACTED}&x=1"),
    ("http://h/v1?access_token=SECRET&client_secret=SECRET", None),
    ("http://[::1]:8000/v1?key=SECRET", f"http://[::1]:8000/v1?key={REDACTED}"),
    ("http://a:SECRET@[::1/v1", None),  # unparseable: kept only to its host
    ("not a url", "not a url"),
]


@pytest.mark.parametrize("url,want", CASES)
def test_public_url(url, want):
    got = public_url(url)
    assert "SECRET" not in got
    if want is not None:
        assert got == want


def test_urls_inside_text_and_options():
    text = (
        "teacher at http://me:SECRET@10.0.0.1/v1?api_key=SECRET2, judge 'https://h/x?sig=SECRET3'"
    )
    out = redact_urls(text)
    assert "SECRET" not in out and "http://10.0.0.1/v1" in out and "https://h/x" in out
    opts = public_options({"base_url": "http://u:SECRET@h/v1", "concurrency": 4, "dtype": None})
    assert opts == {"base_url": "http://h/v1", "concurrency": 4, "dtype": None}


def test_request_parts_keep_the_credentials_for_the_request():
    base, params, auth = request_parts("http://us%40er:p%3Aw@127.0.0.1:9/v1/?api_key=K&x=1")
    assert base == "http://127.0.0.1:9/v1"
    assert params == [("api_key", "K"), ("x", "1")]
    assert auth == ("us@er", "p:w")
    assert request_parts("http://h/v1") == ("http://h/v1", [], None)
