"""The access log: one `offload.access` record per HTTP request and per websocket handshake.

A pure ASGI middleware around the whole app (Socket.IO included), inside uvicorn's proxy-header
middleware, so the client address is the one a trusted proxy forwarded. Each record carries
its fields as `record.access` (for handlers that want them) and a message in the configured
format: a text line, or one JSON object.
"""

from __future__ import annotations

import json
import logging
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["AccessLog", "redact_query"]

#: Query parameters whose names contain one of these carry secrets (`token`, `videoFileToken`,
#: `client_secret`, `password`, `api_key`, …): their values are replaced. No route of this API
#: takes a secret in its path (ids, uuids and file names only), so paths are logged as they are.
_SECRET_NAME_PARTS = (
    "token",
    "password",
    "passwd",
    "secret",
    "signature",
    "key",
    "auth",
    "session",
)
_SECRET_NAMES = frozenset({"code", "sig"})
REDACTED = "REDACTED"

#: Engine.IO's path (see `RunnerSockets.asgi_app`). A long-polling session is a stream of
#: requests carrying its `sid`; only the opening request, without one, is logged.
_SOCKET_PATH = "/socket.io/"


def redact_query(query: str) -> str:
    """`a=1&token=x` → `a=1&token=REDACTED`; names and order are kept."""
    if not query:
        return query
    parts = []
    for part in query.split("&"):
        name, sep, _ = part.partition("=")
        if _is_secret(unquote_plus(name).lower()):
            part = f"{name}={REDACTED}" if sep else name
        parts.append(part)
    return "&".join(parts)


def _is_secret(name: str) -> bool:
    return name in _SECRET_NAMES or any(hint in name for hint in _SECRET_NAME_PARTS)


class AccessLog:
    """Log what `app` answered: method, path, redacted query, status, duration, client, size."""

    def __init__(
        self, app: ASGIApp, *, json_lines: bool = False, logger: logging.Logger | None = None
    ) -> None:
        self.app = app
        self.json_lines = json_lines
        self.logger = logger or logging.getLogger("offload.access")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] not in ("http", "websocket")
            or not self.logger.isEnabledFor(logging.INFO)
            or _is_socket_poll(scope)
        ):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: int | None = None
        size = 0
        websocket = scope["type"] == "websocket"

        async def watch(message: Message) -> None:
            nonlocal status, size
            kind = message["type"]
            if websocket and status is None:
                # The handshake's answer; what follows on the socket is not logged.
                if kind == "websocket.accept":
                    status = 101
                elif kind == "websocket.close":
                    status = 403  # closed before accept: the server refuses the upgrade
                elif kind == "websocket.http.response.start":
                    status = int(message["status"])
                if status is not None:
                    self._log(scope, status, started, 0)
            elif kind == "http.response.start":
                status = int(message["status"])
            elif kind == "http.response.body":
                size += len(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if not websocket:
                # No answer at all: uvicorn sends a 500.
                self._log(scope, status or 500, started, size)
            elif status is None:
                self._log(scope, 500, started, 0)

    def _log(self, scope: Scope, status: int, started: float, size: int) -> None:
        client = scope.get("client")
        # raw_path is what the client sent (percent-encoded, no control characters), so a
        # decoded `%0A` cannot forge a line.
        raw_path = scope.get("raw_path")
        fields: dict[str, Any] = {
            "client": client[0] if client else "-",
            "method": scope.get("method", "GET"),
            "path": raw_path.decode("latin-1") if raw_path else scope["path"],
            "query": redact_query(scope.get("query_string", b"").decode("latin-1")),
            "status": status,
            "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            "bytes": size,
        }
        if self.json_lines:
            message = json.dumps(
                {"time": datetime.now(UTC).isoformat(timespec="milliseconds"), **fields}
            )
        else:
            target = fields["path"] + (f"?{fields['query']}" if fields["query"] else "")
            message = f'{fields["client"]} "{fields["method"]} {target}" {status} {fields["duration_ms"]}ms {size}B'
        self.logger.info(message, extra={"access": fields})


def _is_socket_poll(scope: Scope) -> bool:
    if scope["type"] != "http" or not scope["path"].startswith(_SOCKET_PATH):
        return False
    query = scope.get("query_string", b"").decode("latin-1")
    return any(part.partition("=")[0] == "sid" for part in query.split("&"))
