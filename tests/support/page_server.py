"""A web page served from a thread on a free port: a stand-in for a worker's /metrics."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@dataclass
class Page:
    """What the server answers, and the `Authorization` headers it was sent."""

    body: str
    status: int = 200
    content_type: str = PROMETHEUS_TEXT
    authorizations: list[str | None] = field(default_factory=list)


@contextmanager
def serving(page: Page) -> Iterator[str]:
    """The URL of `page` (at /metrics), served until the block ends."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            page.authorizations.append(self.headers.get("Authorization"))
            body = page.body.encode()
            self.send_response(page.status)
            self.send_header("Content-Type", page.content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            """Quiet: the tests read what the client says."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        host, port = server.server_address[:2]
        yield f"http://{host!s}:{port}/metrics"
    finally:
        server.shutdown()
        thread.join()
        server.server_close()


def refused_url() -> str:
    """A /metrics URL on a port nothing listens on (free a moment ago)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/metrics"
