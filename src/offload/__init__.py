"""Offload: remote runners for video platforms, speaking PeerTube's runner protocol."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
