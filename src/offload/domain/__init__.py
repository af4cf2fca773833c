"""The domain core: job states, transitions, tokens, errors. Standard library only."""

from __future__ import annotations

__all__: list[str] = []
