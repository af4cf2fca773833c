"""Offload's benchmarks: `make bench` (full) and `make bench-quick` (a smoke run for CI)."""

from __future__ import annotations

__all__: list[str] = []
