"""Real HTTP servers on 127.0.0.1 for the tests, each in a thread of ours and stopped on exit:
a handler base that answers JSON, `serving` to run one, `loopback_server` for a server with one
fixed reply to every GET (a "server that is not vLLM" of any kind), and `closed_port`."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JSONHandler(BaseHTTPRequestHandler):
    """A request handler that replies with `send_body` and logs nothing."""

    def send_body(self, body: Any, status: int = 200, content_type: str = "application/json"):
        """`body` (bytes, text, or an object sent as JSON) with its length."""
        if isinstance(body, bytes):
            data = body
        elif isinstance(body, str):
            data = body.encode()
        else:
            data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler], path: str = "", **state: Any) -> Iterator[str]:
    """`http://127.0.0.1:PORT{path}` of a server running `handler`, with `state` set as
    attributes of the server (a handler reads them as `self.server.NAME`)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    for name, value in state.items():
        setattr(server, name, value)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def loopback_server(status: int, body: str | dict, content_type: str = "") -> Iterator[str]:
    """`http://127.0.0.1:PORT` of a server that answers every GET with `status` and `body`."""
    kind = content_type or ("application/json" if isinstance(body, dict) else "text/html")

    class Fixed(JSONHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            self.send_body(body, status, kind)

    with serving(Fixed) as url:
        yield url


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def model_list(name: str, owned_by: str = "vllm") -> dict:
    """A `/v1/models` answer as vLLM (or, with another owner, another server) gives it."""
    return {"object": "list", "data": [{"id": name, "object": "model", "owned_by": owned_by}]}
