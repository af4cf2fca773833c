"""The admin web UI: server-rendered pages under `/admin` (templates, static files, session)."""

from __future__ import annotations

__all__: list[str] = []
