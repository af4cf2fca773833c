"""`offload admin`: registration tokens, runners and runner jobs from a terminal.

It speaks only PeerTube's HTTP API (OAuth password/refresh grants, `/api/v1/runners/...`), so
it administers any Offload or PeerTube instance. `login` keeps the URL and tokens in
`$XDG_CONFIG_HOME/offload/admin.toml` (mode 0600); an expired access token is refreshed with
the refresh grant, before the call when it is known to be stale, after a 401 otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
import tomlkit
import typer
from rich.console import Console
from rich.table import Table

from offload.domain.jobs import JobState, JobType
from offload.http.ui.humanize import ago

__all__ = ["AdminApiError", "AdminClient", "AdminConfig", "admin_app", "config_path"]

#: Every call to the instance gives up after this long.
HTTP_TIMEOUT_S = 30.0
#: Refresh a little before expiry so a token does not die between the check and the call.
REFRESH_MARGIN_S = 30.0
#: A runner heard from this recently is shown online (the API has no socket status).
ONLINE_WINDOW_S = 120.0
PAGE_SIZE = 100

admin_app = typer.Typer(
    help="Administer remote runners of an Offload or PeerTube instance over its API.",
    no_args_is_help=True,
)
tokens_app = typer.Typer(help="Runner registration tokens.", no_args_is_help=True)
runners_app = typer.Typer(help="Registered runners.", no_args_is_help=True)
jobs_app = typer.Typer(help="Runner jobs.", no_args_is_help=True)
admin_app.add_typer(tokens_app, name="tokens")
admin_app.add_typer(runners_app, name="runners")
admin_app.add_typer(jobs_app, name="jobs")

JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")]

_STATE_NAMES = {
    "pending": JobState.PENDING,
    "processing": JobState.PROCESSING,
    "completed": JobState.COMPLETED,
    "errored": JobState.ERRORED,
    "waiting": JobState.WAITING_FOR_PARENT_JOB,
    "cancelled": JobState.CANCELLED,
    "parent-errored": JobState.PARENT_ERRORED,
    "parent-cancelled": JobState.PARENT_CANCELLED,
    "completing": JobState.COMPLETING,
}


class AdminApiError(Exception):
    """The instance refused a call, or could not be reached; `status` is 0 for the latter."""

    def __init__(self, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "offload" / "admin.toml"


@dataclass
class AdminConfig:
    url: str
    username: str
    client_id: str
    client_secret: str
    access_token: str
    refresh_token: str
    #: Epoch seconds.
    access_expires_at: float
    refresh_expires_at: float

    @classmethod
    def load(cls, path: Path) -> AdminConfig:
        if not path.is_file():
            raise AdminApiError(
                f"not logged in ({path} not found): run `offload admin login --url URL`"
            )
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
            return cls(**{name: data[name] for name in cls.__dataclass_fields__})
        except (KeyError, TypeError, tomllib.TOMLDecodeError) as exc:
            raise AdminApiError(f"unreadable {path}: run `offload admin login` again") from exc

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Created 0600 from the start: the tokens are as good as the admin password for a while.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(tomlkit.dumps(asdict(self)))
        path.chmod(0o600)


def _problem(response: httpx.Response) -> AdminApiError:
    try:
        body = response.json()
        detail = body.get("detail") or body.get("error") or response.reason_phrase
    except ValueError:
        detail = response.text.strip()[:200] or response.reason_phrase
    return AdminApiError(
        f"{response.request.method} {response.request.url.path}: {response.status_code} {detail}",
        response.status_code,
    )


def _send(client: httpx.Client, method: str, path: str, **kwargs: Any) -> httpx.Response:
    try:
        return client.request(method, path, **kwargs)
    except httpx.HTTPError as exc:
        raise AdminApiError(f"cannot reach {client.base_url}: {exc}") from exc


def _grant(client: httpx.Client, form: dict[str, str]) -> dict[str, Any]:
    response = _send(client, "POST", "/api/v1/users/token", data=form)
    if response.status_code != 200:
        raise _problem(response)
    return dict(response.json())


class AdminClient:
    """Authenticated calls to one instance, refreshing and saving tokens as needed."""

    def __init__(
        self, config: AdminConfig, path: Path, *, now: Callable[[], float] = time.time
    ) -> None:
        self.config = config
        self.path = path
        self.now = now
        self.http = httpx.Client(base_url=config.url, timeout=HTTP_TIMEOUT_S)

    @classmethod
    def login(
        cls,
        url: str,
        username: str,
        password: str,
        path: Path,
        *,
        now: Callable[[], float] = time.time,
    ) -> AdminClient:
        url = url.rstrip("/")
        with httpx.Client(base_url=url, timeout=HTTP_TIMEOUT_S) as http:
            response = _send(http, "GET", "/api/v1/oauth-clients/local")
            if response.status_code != 200:
                raise _problem(response)
            oauth = response.json()
            issued = _grant(
                http,
                {**oauth, "grant_type": "password", "username": username, "password": password},
            )
        started = now()
        config = AdminConfig(
            url=url,
            username=username,
            client_id=oauth["client_id"],
            client_secret=oauth["client_secret"],
            access_token=issued["access_token"],
            refresh_token=issued["refresh_token"],
            access_expires_at=started + float(issued["expires_in"]),
            refresh_expires_at=started + float(issued["refresh_token_expires_in"]),
        )
        config.save(path)
        return cls(config, path, now=now)

    def close(self) -> None:
        self.http.close()

    def refresh(self) -> None:
        c = self.config
        try:
            issued = _grant(
                self.http,
                {
                    "client_id": c.client_id,
                    "client_secret": c.client_secret,
                    "grant_type": "refresh_token",
                    "refresh_token": c.refresh_token,
                },
            )
        except AdminApiError as exc:
            if exc.status == 0:
                raise
            raise AdminApiError(
                f"the session on {c.url} expired: run `offload admin login` again", exc.status
            ) from exc
        started = self.now()
        c.access_token, c.refresh_token = issued["access_token"], issued["refresh_token"]
        c.access_expires_at = started + float(issued["expires_in"])
        c.refresh_expires_at = started + float(issued["refresh_token_expires_in"])
        c.save(self.path)

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One API call; 2xx responses are returned, anything else raises AdminApiError."""
        if self.config.access_expires_at - REFRESH_MARGIN_S <= self.now():
            self.refresh()
        response = self._authorized(method, path, **kwargs)
        if response.status_code == 401:
            # Revoked or expired early (server clock, restart): one refresh, one retry.
            self.refresh()
            response = self._authorized(method, path, **kwargs)
        if response.status_code >= 400:
            raise _problem(response)
        return response

    def _authorized(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.config.access_token}"}
        return _send(self.http, method, path, headers=headers, **kwargs)

    def list_all(self, path: str, **params: Any) -> Iterator[dict[str, Any]]:
        """Every item of a paginated `{total, data}` list."""
        start = 0
        while True:
            body = self.request(
                "GET", path, params={**params, "start": start, "count": PAGE_SIZE}
            ).json()
            yield from body["data"]
            start += len(body["data"])
            if not body["data"] or start >= body["total"]:
                return


# ---- output helpers ------------------------------------------------------------------------

out = Console(highlight=False)
err = Console(stderr=True, highlight=False)


def _fail(exc: AdminApiError) -> typer.Exit:
    err.print(f"[red]error:[/red] {exc.message}", markup=True, soft_wrap=True)
    return typer.Exit(1)


@contextlib.contextmanager
def _api() -> Iterator[AdminClient]:
    """The logged-in client; API errors end the command with their message and exit code 1."""
    try:
        path = config_path()
        client = AdminClient(AdminConfig.load(path), path)
        try:
            yield client
        finally:
            client.close()
    except AdminApiError as exc:
        raise _fail(exc) from exc


def _print_json(value: object) -> None:
    typer.echo(json.dumps(value, indent=2, ensure_ascii=False))


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value)  # Python 3.11+ reads the trailing Z


def _ago(value: str | None) -> str:
    return ago(_parse_time(value), datetime.now(UTC))


def _table(*columns: str) -> Table:
    table = Table(show_edge=False, header_style="bold")
    for name in columns:
        table.add_column(name, overflow="fold")
    return table


def _state_arg(value: str) -> int:
    key = value.strip().lower()
    if key.isdigit() and int(key) in {s.value for s in JobState}:
        return int(key)
    if key in _STATE_NAMES:
        return int(_STATE_NAMES[key])
    raise typer.BadParameter(
        f"unknown state {value!r}; one of: {', '.join(_STATE_NAMES)} (or an id 1-9)"
    )


def _register_command(url: str, token: str) -> str:
    return (
        f"offload runner register --url {url} --registration-token {token} --runner-name my-runner"
    )


# ---- login / logout --------------------------------------------------------------------------


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
        raise _fail(exc) from exc
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


# ---- registration tokens -------------------------------------------------------------------


@tokens_app.command("list")
def tokens_list(as_json: JsonOpt = False) -> None:
    """List registration tokens with how many runners registered with each."""
    with _api() as client:
        tokens = list(client.list_all("/api/v1/runners/registration-tokens", sort="createdAt"))
    if as_json:
        _print_json(tokens)
        return
    table = _table("ID", "Token", "Runners", "Created")
    for t in tokens:
        table.add_row(
            str(t["id"]),
            t["registrationToken"],
            str(t["registeredRunnersCount"]),
            _ago(t["createdAt"]),
        )
    out.print(table)


@tokens_app.command("generate")
def tokens_generate(as_json: JsonOpt = False) -> None:
    """Generate a registration token and print the command that registers a runner with it."""
    with _api() as client:
        client.request("POST", "/api/v1/runners/registration-tokens/generate")
        # The API answers 204: the newest token is the one just made.
        body = client.request(
            "GET", "/api/v1/runners/registration-tokens", params={"sort": "-createdAt", "count": 1}
        ).json()
    token = body["data"][0]
    if as_json:
        _print_json(token)
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
    with _api() as client:
        if not yes:
            tokens = {t["id"]: t for t in client.list_all("/api/v1/runners/registration-tokens")}
            n = tokens[token_id]["registeredRunnersCount"] if token_id in tokens else 0
            typer.confirm(
                f"Revoke registration token #{token_id}? This also unregisters {n} runner{'' if n == 1 else 's'}.",
                abort=True,
            )
        client.request("DELETE", f"/api/v1/runners/registration-tokens/{token_id}")
    out.print(f"Registration token #{token_id} revoked.")


# ---- runners -------------------------------------------------------------------------------


@runners_app.command("list")
def runners_list(as_json: JsonOpt = False) -> None:
    """List registered runners with their last contact."""
    with _api() as client:
        runners = list(client.list_all("/api/v1/runners", sort="createdAt"))
    if as_json:
        _print_json(runners)
        return
    now = datetime.now(UTC)
    table = _table("ID", "Name", "Description", "Version", "IP", "Last contact")
    for r in runners:
        contact = _parse_time(r.get("lastContact"))
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
    with _api() as client:
        client.request("DELETE", f"/api/v1/runners/{runner_id}")
    out.print(f"Runner #{runner_id} unregistered.")


# ---- jobs ----------------------------------------------------------------------------------


@jobs_app.command("list")
def jobs_list(
    state: Annotated[
        list[str] | None,
        typer.Option(
            "--state",
            help="pending, processing, completed, errored, waiting, cancelled, … (repeatable).",
        ),
    ] = None,
    job_type: Annotated[
        list[str] | None,
        typer.Option("--type", help="Job type, e.g. vod-hls-transcoding (repeatable)."),
    ] = None,
    search: Annotated[
        str | None, typer.Option("--search", help="Job UUID, type or runner name.")
    ] = None,
    sort: Annotated[
        str,
        typer.Option(
            "--sort", help="createdAt, updatedAt, priority, state or progress; '-' for descending."
        ),
    ] = "-createdAt",
    start: Annotated[int, typer.Option("--start", min=0, help="Offset of the first job.")] = 0,
    count: Annotated[int, typer.Option("--count", min=1, max=100, help="How many jobs.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """List runner jobs, newest first."""
    params: dict[str, Any] = {"sort": sort, "start": start, "count": count}
    if state:
        params["stateOneOf"] = [_state_arg(s) for s in state]
    if job_type:
        valid = {str(t) for t in JobType}
        unknown = [t for t in job_type if t not in valid]
        if unknown:
            raise typer.BadParameter(
                f"unknown type {unknown[0]!r}; one of: {', '.join(sorted(valid))}"
            )
        params["typeOneOf"] = job_type
    if search:
        params["search"] = search
    with _api() as client:
        body = client.request("GET", "/api/v1/runners/jobs", params=params).json()
    if as_json:
        _print_json(body)
        return
    table = _table("UUID", "Type", "State", "Progress", "Priority", "Runner", "Failures", "Created")
    for j in body["data"]:
        progress = f"{j['progress']}%" if j.get("progress") is not None else ""
        runner = (j.get("runner") or {}).get("name", "")
        table.add_row(
            j["uuid"],
            j["type"],
            j["state"]["label"],
            progress,
            str(j["priority"]),
            runner,
            str(j["failures"]),
            _ago(j["createdAt"]),
        )
    out.print(table)
    shown = len(body["data"])
    out.print(f"{start + 1 if shown else 0}–{start + shown} of {body['total']}")


def _find_job(client: AdminClient, job_uuid: str) -> dict[str, Any]:
    """Offload's job endpoint, or PeerTube's list searched by UUID (PeerTube has no GET one)."""
    try:
        return dict(client.request("GET", f"/api/v1/runners/jobs/{job_uuid}").json())
    except AdminApiError as exc:
        if exc.status not in (404, 405):
            raise
    data = client.request(
        "GET", "/api/v1/runners/jobs", params={"search": job_uuid, "count": 1}
    ).json()["data"]
    if not data or data[0]["uuid"] != job_uuid:
        raise AdminApiError(f"job {job_uuid} not found", 404)
    return dict(data[0])


@jobs_app.command("show")
def jobs_show(
    job_uuid: Annotated[str, typer.Argument(metavar="UUID")], as_json: JsonOpt = False
) -> None:
    """Show a job: state, payloads, error, parent, children and attempts."""
    with _api() as client:
        job = _find_job(client, job_uuid)
    if as_json:
        _print_json(job)
        return
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column(overflow="fold")
    parent = job.get("parent")
    for label, value in [
        ("UUID", job["uuid"]),
        ("Type", job["type"]),
        ("State", job["state"]["label"]),
        ("Progress", f"{job['progress']}%" if job.get("progress") is not None else "—"),
        ("Priority", str(job["priority"])),
        ("Failures", str(job["failures"])),
        ("Runner", (job.get("runner") or {}).get("name", "—")),
        ("Parent", f"{parent['uuid']} ({parent['state']['label']})" if parent else "—"),
        ("Created", job["createdAt"]),
        ("Started", job.get("startedAt") or "—"),
        ("Finished", job.get("finishedAt") or "—"),
        ("Error", job.get("error") or "—"),
    ]:
        facts.add_row(label, value)
    out.print(facts)
    out.print("\n[bold]Public payload[/bold] (sent to the runner)")
    out.print(
        json.dumps(job.get("payload"), indent=2, ensure_ascii=False), markup=False, soft_wrap=True
    )
    if "privatePayload" in job:
        out.print("\n[bold]Private payload[/bold] (kept by the instance)")
        out.print(
            json.dumps(job["privatePayload"], indent=2, ensure_ascii=False),
            markup=False,
            soft_wrap=True,
        )
    if job.get("children"):
        children = _table("Child", "Type", "State")
        for child in job["children"]:
            children.add_row(child["uuid"], child["type"], child["state"]["label"])
        out.print()
        out.print(children)
    if job.get("attempts"):
        attempts = _table("#", "Runner", "Started", "Ended", "Outcome", "Message")
        for a in job["attempts"]:
            attempts.add_row(
                str(a["attempt"]),
                a.get("runnerName") or "",
                a["startedAt"],
                a.get("endedAt") or "",
                a.get("outcome") or "running",
                a.get("message") or "",
            )
        out.print()
        out.print(attempts)


@jobs_app.command("cancel")
def jobs_cancel(job_uuid: Annotated[str, typer.Argument(metavar="UUID")]) -> None:
    """Cancel a pending, processing or waiting job (and the jobs waiting for it)."""
    with _api() as client:
        client.request("POST", f"/api/v1/runners/jobs/{job_uuid}/cancel")
    out.print(f"Job {job_uuid} cancelled.")


@jobs_app.command("delete")
def jobs_delete(
    job_uuid: Annotated[str, typer.Argument(metavar="UUID")], yes: YesOpt = False
) -> None:
    """Delete a job and its child jobs (cancelling them first if they still run)."""
    if not yes:
        typer.confirm(f"Delete job {job_uuid} and its child jobs?", abort=True)
    with _api() as client:
        client.request("DELETE", f"/api/v1/runners/jobs/{job_uuid}")
    out.print(f"Job {job_uuid} deleted.")
