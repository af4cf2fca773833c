"""`python -m offload.cli`, as the demo and the tests start the command."""

from __future__ import annotations

from offload.cli import main

__all__: list[str] = []

main()
