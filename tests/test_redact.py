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


def test_a_url_through_a_path_loses_its_user_info_too():
    assert redact_urls("no such folder http:/u:SECRET@127.0.0.1:9/x") == (
        "no such folder http:/127.0.0.1:9/x"
    )
    assert redact_urls("C:/data/file@2x.png") == "C:/data/file@2x.png"


def test_log_lines_carry_no_credential():
    import io
    import logging

    from reasoning_distill.redact import redact_handlers

    stream = io.StringIO()
    log = logging.getLogger("rd-test-redact")
    log.propagate = False
    log.addHandler(logging.StreamHandler(stream))
    redact_handlers(log)
    redact_handlers(log)  # once is enough: a second call adds nothing
    assert len(log.handlers[0].filters) == 1
    log.warning("teacher %s (k=%d)", "http://u:SECRET@127.0.0.1:8000/v1?token=SECRET2", 4)
    assert stream.getvalue() == f"teacher http://127.0.0.1:8000/v1?token={REDACTED} (k=4)\n"


@pytest.mark.parametrize("flags", [[], ["-v"]])
def test_a_cli_error_naming_a_url_shows_no_credential(flags, tmp_path, capsys):
    from reasoning_distill.cli.main import main

    argv = [*flags, "eval", "--model", "m=http://u:SECRET@127.0.0.1:9/x", "--benchmark",
            "toy_math", "--limit", "1", "--out", str(tmp_path / "e")]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "rdistill eval: error: model 'http://127.0.0.1:9/x'" in err and "SECRET" not in err
