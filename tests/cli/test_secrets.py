"""No credential reaches a file or a log: `rdistill eval` and `generate` against a real
OpenAI-compatible server (`vllm serve` on the tiny model) behind a proxy that refuses any
request without them, so the test also shows the credentials were sent."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.generation.servers import FlakyProxy, VLLMServer, _Handler

SECRETS = {
    "user-info": "SECRETPW1",
    "query": "SECRETQ2",
    "OPENAI_API_KEY": "SECRETKEY3",
    "HF_TOKEN": "SECRETHF4",
    "--api-key-env": "SECRETENV5",
}
BASIC = base64.b64encode(f"alice:{SECRETS['user-info']}".encode()).decode()


class _Gate(_Handler):
    """Forwards a request only when it carries the expected credentials; 401 otherwise."""

    def _forward(self, method: str) -> None:
        srv = self.server
        ok = f"api_key={SECRETS['query']}" in self.path and (
            self.headers.get("authorization") == srv.expect_auth
        )
        srv.checked.append(ok)
        if not ok:
            self.send_response(401)
            self.send_header("content-length", "0")
            self.end_headers()
            return
        super()._forward(method)


@pytest.fixture(scope="module")
def server(tiny_model_dir, tmp_path_factory):
    pytest.importorskip("vllm")
    srv = VLLMServer(tiny_model_dir, tmp_path_factory.mktemp("vllm") / "server.log")
    srv.start()
    yield srv
    srv.kill()


def _gate(backend: str, expect_auth: str) -> FlakyProxy:
    proxy = FlakyProxy(backend.removesuffix("/v1"), failures=0)
    proxy.RequestHandlerClass = _Gate
    proxy.expect_auth, proxy.checked = expect_auth, []
    return proxy


def _url(proxy: FlakyProxy) -> str:
    port = proxy.server_address[1]
    return f"http://alice:{SECRETS['user-info']}@127.0.0.1:{port}/v1?api_key={SECRETS['query']}"


def _run(
    argv: list[str], env: dict[str, str], cwd: Path, *flags: str
) -> subprocess.CompletedProcess:
    """The command with `flags` before it (`-v`: debug logging, where most would leak)."""
    return subprocess.run(
        [sys.executable, "-m", "reasoning_distill.cli.main", *flags, *argv],
        capture_output=True, text=True, timeout=600, env=env, cwd=cwd,
    )  # fmt: skip


def _leaks(root: Path, *texts: str) -> list[str]:
    """Every (file or stream, secret) where a secret (or the basic-auth token) shows."""
    found = []
    needles = [*SECRETS.values(), BASIC]
    blobs = {str(p): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    blobs.update({f"stream {i}": t.encode() for i, t in enumerate(texts)})
    for where, blob in blobs.items():
        found += [f"{where}: {s}" for s in needles if s.encode() in blob]
    return found


def _env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "OPENAI_API_KEY": SECRETS["OPENAI_API_KEY"],
        "HF_TOKEN": SECRETS["HF_TOKEN"],
        "RD_TEST_KEY": SECRETS["--api-key-env"],
        "HF_HOME": str(tmp_path / "hf"),
    }


@pytest.mark.vllm
@pytest.mark.slow
def test_eval_stores_and_logs_no_credential(server, tiny_model_dir, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    # The key named by --api-key-env goes as the bearer token (the URL's user-info is not
    # sent then); the query parameter is sent as given.
    with _gate(server.base_url, f"Bearer {SECRETS['--api-key-env']}") as proxy:
        argv = ["eval", "--model", f"m={tiny_model_dir}", "--model", f"s={tiny_model_dir}",
                "--teacher", "m", "--benchmark", "toy_math", "--limit", "2", "--n", "1",
                "--max-tokens", "8", "--engine", "openai", "--base-url", _url(proxy),
                "--api-key-env", "RD_TEST_KEY", "--out", str(work / "eval")]  # fmt: skip
        proc = _run(argv, _env(tmp_path), work, "-v")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proxy.checked and all(proxy.checked)
    manifest = json.loads((work / "eval" / "m" / "results.json").read_text())["manifest"]
    assert manifest["engine"]["options"]["base_url"] == (
        f"http://127.0.0.1:{proxy.server_address[1]}/v1?api_key=REDACTED"
    )
    assert (work / "eval" / "gap" / "gap.json").exists()
    assert _leaks(tmp_path, proc.stdout, proc.stderr) == []


@pytest.mark.vllm
@pytest.mark.slow
def test_generate_stores_and_logs_no_credential(server, tiny_model_dir, tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    rows = [{"id": f"q{i}", "problem": f"What is {i} + 2?", "answer": str(i + 2)} for i in range(3)]
    (work / "p.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    # No key in the named variable: the URL's user-info goes as basic auth.
    with _gate(server.base_url, f"Basic {BASIC}") as proxy:
        argv = ["generate", "--model", str(tiny_model_dir), "--input", str(work / "p.jsonl"),
                "--out", str(work / "gen"), "--n", "2", "--max-tokens", "8", "--engine",
                "openai", "--base-url", _url(proxy), "--api-key-env", "RD_UNSET_KEY"]  # fmt: skip
        proc = _run(argv, _env(tmp_path), work, "-v")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proxy.checked and all(proxy.checked)
    assert list((work / "gen").rglob("*.jsonl*"))
    assert _leaks(tmp_path, proc.stdout, proc.stderr) == []


def test_an_unreachable_server_names_only_the_public_url(tmp_path):
    from tests.generation.servers import free_port

    url = f"http://alice:{SECRETS['user-info']}@127.0.0.1:{free_port()}/v1?token=SECRETQ2"
    argv = ["eval", "--model", "m=served", "--benchmark", "toy_math", "--limit", "1",
            "--engine", "openai", "--base-url", url, "--out", str(tmp_path / "eval")]  # fmt: skip
    proc = _run(argv, _env(tmp_path), tmp_path)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "cannot reach the OpenAI-compatible server at http://127.0.0.1:" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert _leaks(tmp_path, proc.stdout, proc.stderr) == []
