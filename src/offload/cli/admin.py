"""`offload admin`: registration tokens, runners and runner jobs from a terminal, over the
instance's HTTP API (see `offload.cli.admin_client`). `login` and `logout` are here; the
sub-commands are in `admin_runners` (tokens, runners) and `admin_jobs`."""

from __future__ import annotations

from typing import Annotated

import typer

from offload.cli.admin_client import AdminApiError, AdminClient, AdminConfig, config_path
from offload.cli.admin_jobs import jobs_app
from offload.cli.admin_output import err, fail, out
from offload.cli.admin_runners import runners_app, tokens_app

__all__ = ["admin_app"]

admin_app = typer.Typer(
    help="Administer remote runners of an Offload or PeerTube instance over its API.",
    no_args_is_help=True,
)
admin_app.add_typer(tokens_app, name="tokens")
admin_app.add_typer(runners_app, name="runners")
admin_app.add_typer(jobs_app, name="jobs")


@admin_app.command()
def login(
    url: Annotated[
        str, typer.Option("--url", help="Base URL of the instance.", envvar="OFFLOAD_ADMIN_URL")
    ],
    username: Annotated[
        str, typer.Option("--username", help="Admin account.", envvar="OFFLOAD_ADMIN_USERNAME")
    ] = "root",
    password: Annotated[
        str | None,
        typer.Option(
            "--password", help="Password (asked when not given).", envvar="OFFLOAD_ADMIN_PASSWORD"
        ),
    ] = None,
) -> None:
    """Log in and keep the URL and tokens for the other commands."""
    if password is None:
        password = typer.prompt(f"Password of {username}", hide_input=True)
    path = config_path()
    try:
        client = AdminClient.login(url, username, password, path)
        try:
            me = client.request("GET", "/api/v1/users/me").json()
        finally:
            client.close()
    except AdminApiError as exc:
        raise fail(exc) from exc
    role = (me.get("role") or {}).get("id")
    out.print(f"Logged in to {client.config.url} as {username}; session kept in {path}")
    if role != 0:
        err.print(
            "[yellow]warning:[/yellow] this account is not an administrator; runner commands will be refused"
        )


@admin_app.command()
def logout() -> None:
    """Revoke the session's token and forget it."""
    path = config_path()
    try:
        client = AdminClient(AdminConfig.load(path), path)
        try:
            client.request("POST", "/api/v1/users/revoke-token")
        finally:
            client.close()
    except AdminApiError as exc:
        err.print(f"[yellow]warning:[/yellow] {exc.message}")
    path.unlink(missing_ok=True)
    out.print("Logged out.")
