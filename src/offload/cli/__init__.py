"""The `offload` command, one module per command group: `serve` (serve, db upgrade), `demo`,
`admin` (with `admin_runners`, `admin_jobs`, their shared `admin_output` and the API plumbing
in `admin_client`), `videos` and `runner` (the daemon itself lives in `offload.runner`).
"""

from __future__ import annotations

import typer

from offload import __version__
from offload.cli.admin import admin_app
from offload.cli.demo import demo
from offload.cli.runner import runner_app
from offload.cli.serve import db_app, serve
from offload.cli.videos import videos_app

__all__ = ["app", "main"]

app = typer.Typer(
    help="Offload: remote runners for video platforms.", no_args_is_help=True, add_completion=False
)
app.command()(serve)
app.add_typer(db_app, name="db")
app.add_typer(admin_app, name="admin")
app.add_typer(runner_app, name="runner")
app.add_typer(videos_app, name="videos")
app.command()(demo)


@app.command()
def version() -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    app()
