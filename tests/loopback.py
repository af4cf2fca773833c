"""A tiny HTTP server on loopback, in a thread, that records every request it gets and answers
from a function: the other side of the runner's transfers when that side is not an Offload
instance (a redirecting file server, object storage, a minimal PeerTube stand-in)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

__all__ = ["Answer", "LoopbackServer", "Seen", "file_answer", "loopback_server"]


@dataclass(frozen=True)
class Seen:
    """One request as the server received it."""

    method: str
    #: Path with its query string.
    target: str
    #: Header names in lower case.
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    #: Send only this many bytes of `body` (with the full Content-Length), then close: a cut.
    cut_after: int | None = None


Route = Callable[[Seen], Answer]


def file_answer(content: bytes, seen: Seen) -> Answer:
    """`content` as a static file server (object storage) answers it, honouring `Range: bytes=N-`."""
    wanted = seen.headers.get("range")
    if wanted:
        start = int(wanted.removeprefix("bytes=").removesuffix("-"))
        return Answer(
            206,
            {"Content-Range": f"bytes {start}-{len(content) - 1}/{len(content)}"},
            content[start:],
        )
    return Answer(200, {"ETag": '"v1"'}, content)


class LoopbackServer:
    """Requests seen so far, and the base URL under a host name of the caller's choice."""

    def __init__(self, server: ThreadingHTTPServer, host: str) -> None:
        self._server = server
        self.host = host
        self.seen: list[Seen] = []

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self._server.server_address[1]}"

    def paths(self) -> list[str]:
        return [s.path for s in self.seen]


@contextmanager
def loopback_server(route: Route, *, host: str = "127.0.0.1") -> Iterator[LoopbackServer]:
    """Serve `route` on 127.0.0.1, port 0; `host` is the name the URL uses for it
    (`localhost` makes it another host than `127.0.0.1` for the client)."""
    holder: list[LoopbackServer] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = Seen(
                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body
            )
            holder[0].seen.append(seen)
            answer = route(seen)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if "content-length" not in {k.lower() for k in answer.headers}:
                self.send_header("Content-Length", str(len(answer.body)))
            if answer.cut_after is not None:
                self.send_header("Connection", "close")
                self.close_connection = True
            self.end_headers()
            self.wfile.write(
                answer.body if answer.cut_after is None else answer.body[: answer.cut_after]
            )
            self.wfile.flush()

        do_GET = do_POST = do_PUT = do_HEAD = _handle  # noqa: N815  http.server's naming

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002  the base class's name
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    holder.append(LoopbackServer(server, host))
    thread = threading.Thread(target=server.serve_forever, name="loopback-http", daemon=True)
    thread.start()
    try:
        yield holder[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
