"""HTTP and Socket.IO adapters: the ASGI app, routes, problem JSON, multipart parsing."""

from __future__ import annotations

__all__: list[str] = []
