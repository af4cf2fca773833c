"""`offload admin tokens …` and `offload admin runners …`: registration tokens and the
runners registered with them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer

from offload.cli.admin_output import (
    JsonOpt,
    YesOpt,
    empty_table,
    logged_in,
    out,
    parse_time,
    print_json,
    time_ago,
)
from offload.http.ui.humanize import ago

__all__ = ["runners_app", "tokens_app"]

#: A runner heard from this recently is shown online (the API has no socket status).
ONLINE_WINDOW_S = 120.0

tokens_app = typer.Typer(help="Runner registration tokens.", no_args_is_help=True)
runners_app = typer.Typer(help="Registered runners.", no_args_is_help=True)


def _register_command(url: str, token: str) -> str:
    return (
        f"offload runner register --url {url} --registration-token {token} --runner-name my-runner"
    )


@tokens_app.command("list")
def tokens_list(as_json: JsonOpt = False) -> None:
    """List registration tokens with how many runners registered with each."""
    with logged_in() as client:
        tokens = list(client.list_all("/api/v1/runners/registration-tokens", sort="createdAt"))
    if as_json:
        print_json(tokens)
        return
    table = empty_table("ID", "Token", "Runners", "Created")
    for t in tokens:
        table.add_row(
            str(t["id"]),
            t["registrationToken"],
            str(t["registeredRunnersCount"]),
            time_ago(t["createdAt"]),
        )
    out.print(table)


@tokens_app.command("generate")
def tokens_generate(as_json: JsonOpt = False) -> None:
    """Generate a registration token and print the command that registers a runner with it."""
    with logged_in() as client:
        client.request("POST", "/api/v1/runners/registration-tokens/generate")
        # The API answers 204: the newest token is the one just made.
        body = client.request(
            "GET", "/api/v1/runners/registration-tokens", params={"sort": "-createdAt", "count": 1}
        ).json()
    token = body["data"][0]
    if as_json:
        print_json(token)
        return
    out.print(f"Registration token #{token['id']}: {token['registrationToken']}")
    out.print("Register a runner with:")
    out.print(
        f"  {_register_command(client.config.url, token['registrationToken'])}", soft_wrap=True
    )


@tokens_app.command("revoke")
def tokens_revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID")], yes: YesOpt = False
) -> None:
    """Revoke a registration token, unregistering the runners registered with it."""
    with logged_in() as client:
        if not yes:
            tokens = {t["id"]: t for t in client.list_all("/api/v1/runners/registration-tokens")}
            n = tokens[token_id]["registeredRunnersCount"] if token_id in tokens else 0
            typer.confirm(
                f"Revoke registration token #{token_id}? This also unregisters {n} runner{'' if n == 1 else 's'}.",
                abort=True,
            )
        client.request("DELETE", f"/api/v1/runners/registration-tokens/{token_id}")
    out.print(f"Registration token #{token_id} revoked.")


@runners_app.command("list")
def runners_list(as_json: JsonOpt = False) -> None:
    """List registered runners with their last contact."""
    with logged_in() as client:
        runners = list(client.list_all("/api/v1/runners", sort="createdAt"))
    if as_json:
        print_json(runners)
        return
    now = datetime.now(UTC)
    table = empty_table("ID", "Name", "Description", "Version", "IP", "Last contact")
    for r in runners:
        contact = parse_time(r.get("lastContact"))
        online = contact is not None and (now - contact).total_seconds() < ONLINE_WINDOW_S
        status = "[green]online[/green]" if online else "[dim]offline[/dim]"
        table.add_row(
            str(r["id"]),
            r["name"],
            r.get("description") or "",
            r.get("version") or "",
            r.get("ip") or "",
            f"{status} {ago(contact, now)}",
        )
    out.print(table)


@runners_app.command("delete")
def runners_delete(
    runner_id: Annotated[int, typer.Argument(metavar="ID")], yes: YesOpt = False
) -> None:
    """Unregister a runner."""
    if not yes:
        typer.confirm(f"Unregister runner #{runner_id}?", abort=True)
    with logged_in() as client:
        client.request("DELETE", f"/api/v1/runners/{runner_id}")
    out.print(f"Runner #{runner_id} unregistered.")
