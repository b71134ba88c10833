"""Real HTTP servers on 127.0.0.1 for the teacher-URL checks: each answers every GET with one
fixed reply, so a test can stand up "a server that is not vLLM" of any kind."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@contextlib.contextmanager
def loopback_server(status: int, body: str | dict, content_type: str = "") -> Iterator[str]:
    """`http://127.0.0.1:PORT` of a server in a thread of ours, stopped on exit."""
    text = json.dumps(body) if isinstance(body, dict) else body
    kind = content_type or ("application/json" if isinstance(body, dict) else "text/html")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_list(name: str, owned_by: str = "vllm") -> dict:
    """A `/v1/models` answer as vLLM (or, with another owner, another server) gives it."""
    return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": owned_by}]}
