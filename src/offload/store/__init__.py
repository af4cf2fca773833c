"""Persistence adapters: SQLAlchemy Core tables, repositories, Alembic migrations."""

from __future__ import annotations

__all__: list[str] = []
