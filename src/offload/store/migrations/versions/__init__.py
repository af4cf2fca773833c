"""Alembic revision scripts, applied in order by `Database.upgrade`."""

from __future__ import annotations

__all__: list[str] = []
