"""Times for people ("2 min ago"), shared by the admin pages and the admin CLI (no web imports)."""

from __future__ import annotations

from datetime import datetime

__all__ = ["ago"]


def ago(value: datetime | None, now: datetime) -> str:
    """'just now', '42 s ago', '2 min ago', '3 h ago', '5 d ago'; '—' for no time."""
    if value is None:
        return "—"
    seconds = int((now - value).total_seconds())
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    if seconds < 86400:
        return f"{seconds // 3600} h ago"
    return f"{seconds // 86400} d ago"
