"""An ASGI guard on request bodies, under every route.

* A body that is no upload may take `max_bytes`: a larger declared Content-Length is refused
  before the app sees the request, and a chunked body is counted as it streams (413 problem
  JSON either way). Without it, a JSON route reads any body whole into memory first.
* Upload routes cap their own bodies (per job type, per video), so they pass uncounted.
* An answer given before the body was all read closes the connection when much of it is
  still to come, so the server stops reading it; a small rest is read and dropped by uvicorn,
  which keeps the connection.
"""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from offload.http.errors import BodyTooLarge, too_large_response

__all__ = ["LINGER_BYTES", "UPLOAD_ROUTES", "BodyLimit"]

#: Routes that take uploads and cap them themselves: (method, path).
UPLOAD_ROUTES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("POST", re.compile(r"/api/v1/runners/jobs/[^/]*/(update|success)")),
    ("POST", re.compile(r"/api/v1/videos/upload")),
    ("PUT", re.compile(r"/api/v1/videos/upload-resumable")),
    ("POST", re.compile(r"/admin/videos/upload")),
)
#: Past an early answer, an unread rest up to this size is cheaper to read and drop than a new
#: connection (and a client still sending it gets the answer, not a broken pipe).
LINGER_BYTES = 1024 * 1024


class BodyLimit:
    """ASGI middleware: see the module docstring."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        capped = not _is_upload(scope["method"], scope["path"])
        declared, streamed = _body_framing(scope)
        if capped and declared is not None and declared > self.max_bytes:
            response = too_large_response(self._detail())
            if declared > LINGER_BYTES:
                response.headers["connection"] = "close"
            await response(scope, receive, send)
            return
        received = 0
        complete = not streamed and not declared  # no body at all

        async def counted_receive() -> Message:
            nonlocal received, complete
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                complete = not message.get("more_body", False)
                if capped and received > self.max_bytes:
                    raise BodyTooLarge(self._detail())
            return message

        async def closing_send(message: Message) -> None:
            if message["type"] == "http.response.start" and not complete:
                rest = None if declared is None else declared - received
                if rest is None or rest > LINGER_BYTES:
                    message = {
                        **message,
                        "headers": [*message.get("headers", []), (b"connection", b"close")],
                    }
            await send(message)

        await self.app(scope, counted_receive, closing_send)

    def _detail(self) -> str:
        return f"request entity too large: a request body may take at most {self.max_bytes} bytes"


def _is_upload(method: str, path: str) -> bool:
    return any(method == m and pattern.fullmatch(path) for m, pattern in UPLOAD_ROUTES)


def _body_framing(scope: Scope) -> tuple[int | None, bool]:
    """(declared Content-Length, chunked) of the request."""
    declared: int | None = None
    streamed = False
    headers: list[tuple[bytes, bytes]] = scope.get("headers", [])
    for name, value in headers:
        if name == b"content-length" and value.strip().isdigit():
            declared = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            streamed = True
    return declared, streamed
