"""Alembic migrations of the instance database: `env.py` and one script per revision."""

from __future__ import annotations

__all__: list[str] = []
