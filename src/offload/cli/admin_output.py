"""What the `offload admin` commands share: their consoles and options, the logged-in client
whose API errors end the command, tables, JSON and times as the terminal shows them."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from offload.cli.admin_client import AdminApiError, AdminClient, AdminConfig, config_path
from offload.http.ui.humanize import ago

__all__ = [
    "JsonOpt",
    "YesOpt",
    "empty_table",
    "err",
    "fail",
    "logged_in",
    "out",
    "parse_time",
    "print_json",
    "time_ago",
]

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]

# Without rich's highlighting, unlike offload.cli.output's consoles: the ids, numbers and
# times in these tables and messages keep the colours given here.
out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def fail(exc: AdminApiError) -> typer.Exit:
    """Print the error; the caller raises what comes back (exit code 1)."""
    err.print(f"[red]error:[/red] {exc.message}", markup=True, soft_wrap=True)
    return typer.Exit(1)


@contextlib.contextmanager
def logged_in() -> Iterator[AdminClient]:
    """The logged-in client; API errors end the command with their message and exit code 1."""
    try:
        path = config_path()
        client = AdminClient(AdminConfig.load(path), path)
        try:
            yield client
        finally:
            client.close()
    except AdminApiError as exc:
        raise fail(exc) from exc


def print_json(value: object) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value)  # Python 3.11+ reads the trailing Z


def time_ago(value: str | None) -> str:
    """An API timestamp as the admin UI shows it ("3 min ago")."""
    return ago(parse_time(value), datetime.now(UTC))


def empty_table(*columns: str) -> Table:
    table = Table(show_edge=False, header_style="bold")
    for name in columns:
        table.add_column(name, overflow="fold")
    return table
