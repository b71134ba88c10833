"""Real servers for the HTTP engine tests: `vllm serve` on the tiny model, and a proxy that
answers 429 for a while before forwarding to it. Both listen on 127.0.0.1 only."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

VLLM_ENV = {"VLLM_CPU_KVCACHE_SPACE": "1", "HF_HUB_OFFLINE": "1", "VLLM_LOGGING_LEVEL": "WARNING"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class VLLMServer:
    """`vllm serve` (the OpenAI-compatible server module) as a process group we own.

    `vllm-cpu` installs under another distribution name, which breaks the `vllm` console
    script's `--version` lookup, so the server module is started directly.
    """

    def __init__(self, model: Path, log: Path, extra: tuple[str, ...] = ()) -> None:
        self.model, self.log, self.extra = model, log, extra
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self, wait: bool = True, timeout: float = 240) -> None:
        cmd = [
            sys.executable, "-m", "vllm.entrypoints.openai.api_server",
            "--model", str(self.model), "--host", "127.0.0.1", "--port", str(self.port),
            "--dtype", "float32", "--max-model-len", "512", "--enforce-eager", *self.extra,
        ]  # fmt: skip
        logf = open(self.log, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.proc = subprocess.Popen(
            cmd,
            stdout=logf,
            stderr=subprocess.STDOUT,
            env={**os.environ, **VLLM_ENV},
            start_new_session=True,
        )
        logf.close()
        if wait:
            self.wait_ready(timeout)

    def wait_ready(self, timeout: float = 240) -> None:
        import httpx

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"vllm server exited ({self.proc.returncode}); log:\n{self.log.read_text()[-3000:]}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{self.port}/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.5)
        raise TimeoutError(
            f"vllm server not ready in {timeout}s; log:\n{self.log.read_text()[-3000:]}"
        )

    def kill(self) -> None:
        """SIGKILL the server and its engine processes (a crash, not a shutdown)."""
        if self.proc is not None and self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.proc = None


class _Handler(BaseHTTPRequestHandler):
    server: FlakyProxy

    def log_message(self, *args: object) -> None:
        pass

    def _forward(self, method: str) -> None:
        body = self.rfile.read(int(self.headers.get("content-length") or 0))
        srv = self.server
        with srv.lock:
            srv.seen += 1
            flaky = method == "POST" and srv.failures_left > 0
            if flaky:
                srv.failures_left -= 1
                status = srv.statuses[srv.failures_left % len(srv.statuses)]
                srv.failed[status] = srv.failed.get(status, 0) + 1
        if flaky:
            self._answer_flaky(status)
            return
        with srv.lock:
            srv.inflight += 1
            srv.max_inflight = max(srv.max_inflight, srv.inflight)
        try:
            r = self._fetch(method, body)
        finally:
            # Counted out before the client has its answer: a client that sends its next
            # request at once must not find this one still counted.
            with srv.lock:
                srv.inflight -= 1
        self._reply(r)

    def _answer_flaky(self, status: int) -> None:
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", "0.2")
        self.send_header("content-type", "application/json")
        self.end_headers()
        self.wfile.write(b'{"error": {"message": "rate limited"}}')

    def _fetch(self, method: str, body: bytes):
        import httpx

        return httpx.request(
            method,
            self.server.backend + self.path,
            content=body,
            headers={"content-type": "application/json"},
            timeout=120,
        )

    def _reply(self, r) -> None:
        self.send_response(r.status_code)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(r.content)))
        self.end_headers()
        self.wfile.write(r.content)

    def do_GET(self) -> None:
        self._forward("GET")

    def do_POST(self) -> None:
        self._forward("POST")


class FlakyProxy(ThreadingHTTPServer):
    """Forwards to `backend` after answering the first `failures` POSTs with 429 / 503."""

    daemon_threads = True

    def __init__(self, backend: str, failures: int, statuses: tuple[int, ...] = (429,)) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.backend = backend.rstrip("/")
        self.failures_left = failures
        self.statuses = statuses
        self.failed: dict[int, int] = {}
        self.seen = 0
        self.inflight = self.max_inflight = 0  # requests being forwarded now / at most at once
        self.lock = threading.Lock()
        self._thread = threading.Thread(target=self.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def __enter__(self) -> FlakyProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()
        self.server_close()
