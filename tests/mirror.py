"""A loopback HTTP mirror for pack downloads (tests/client): serves files under /good/…,
fails /broken/… with HTTP 503, answers Range requests, can drop a transfer half-way."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

_RANGE = re.compile(r"bytes=(\d+)-$")


class PackServer:
    """Serves ``files`` under /good/…; /broken/… always fails with HTTP 503.

    ``drop_once`` paths: the first request sends half the body, then closes the connection.
    Range requests (``bytes=N-``) are answered with 206. ``requests`` logs (path, range).
    """

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.drop_once: set[str] = set()
        self.requests: list[tuple[str, str]] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            timeout = 10

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                header = self.headers.get("Range", "")
                server.requests.append((self.path, header))
                prefix, _, rel = self.path.lstrip("/").partition("/")
                body = server.files.get(rel)
                if prefix != "good" or body is None:
                    self.send_error(503 if prefix == "broken" else 404)
                    return
                start = 0
                match = _RANGE.match(header)
                if match:
                    start = int(match.group(1))
                    if start >= len(body):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                self.send_header("Content-Length", str(len(body) - start))
                self.end_headers()
                if rel in server.drop_once:
                    server.drop_once.discard(rel)
                    self.wfile.write(body[start : start + (len(body) - start) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body[start:])

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def ranged(self, rel: str) -> list[str]:
        return [r for p, r in self.requests if p.endswith("/" + rel) and r]


@contextmanager
def serving(files: dict[str, bytes]) -> Iterator[PackServer]:
    """A running PackServer over ``files`` (rel path → bytes), stopped afterwards."""
    server = PackServer(files)
    server.thread.start()
    try:
        yield server
    finally:
        server.httpd.shutdown()
        server.httpd.server_close()
        server.thread.join(timeout=10)
