"""The consoles of `offload serve`, `db`, `demo`, `videos` and `runner`: results on stdout,
progress, warnings and errors on stderr so that pipes get only the results."""

from __future__ import annotations

from rich.console import Console

__all__ = ["err", "out"]

out = Console()
err = Console(stderr=True)
