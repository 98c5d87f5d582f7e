"""A loopback HTTP server in a thread that records what an SDK sends and answers from a handler.

Used where the protocol is simple enough that a recorder is the honest stand-in (Event Grid's
publish API, Log Analytics' query API): the test asserts on the raw request the SDK produced."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


# handler(request) -> (status, headers, body)
Responder = Callable[[Recorded], tuple[int, dict[str, str], bytes]]


@dataclass
class Stub:
    url: str
    requests: list[Recorded] = field(default_factory=list)


@contextmanager
def serve(responder: Responder) -> Iterator[Stub]:
    stub_box: list[Stub] = []

    class Handler(BaseHTTPRequestHandler):
        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            parts = urlsplit(self.path)
            rec = Recorded(
                method=self.command,
                path=parts.path,
                query=parse_qs(parts.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
            )
            stub_box[0].requests.append(rec)
            status, headers, body = responder(rec)
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    stub_box.append(Stub(url=f"http://127.0.0.1:{server.server_address[1]}"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub_box[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
