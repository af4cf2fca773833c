"""The instance's services: the use cases behind the HTTP and socket adapters."""

from __future__ import annotations

__all__: list[str] = []
