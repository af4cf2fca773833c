"""`offload admin jobs …`: list, show, cancel and delete runner jobs."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from offload.cli.admin_client import AdminApiError, AdminClient
from offload.cli.admin_output import (
    JsonOpt,
    YesOpt,
    empty_table,
    logged_in,
    out,
    print_json,
    time_ago,
)
from offload.domain.jobs import JobState, JobType

__all__ = ["jobs_app"]

jobs_app = typer.Typer(help="Runner jobs.", no_args_is_help=True)

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


def _state_arg(value: str) -> int:
    key = value.strip().lower()
    if key.isdigit() and int(key) in {s.value for s in JobState}:
        return int(key)
    if key in _STATE_NAMES:
        return int(_STATE_NAMES[key])
    raise typer.BadParameter(
        f"unknown state {value!r}; one of: {', '.join(_STATE_NAMES)} (or an id 1-9)"
    )


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
    with logged_in() as client:
        body = client.request("GET", "/api/v1/runners/jobs", params=params).json()
    if as_json:
        print_json(body)
        return
    table = empty_table(
        "UUID", "Type", "State", "Progress", "Priority", "Runner", "Failures", "Created"
    )
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
            time_ago(j["createdAt"]),
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
    with logged_in() as client:
        job = _find_job(client, job_uuid)
    if as_json:
        print_json(job)
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
        children = empty_table("Child", "Type", "State")
        for child in job["children"]:
            children.add_row(child["uuid"], child["type"], child["state"]["label"])
        out.print()
        out.print(children)
    if job.get("attempts"):
        attempts = empty_table("#", "Runner", "Started", "Ended", "Outcome", "Message")
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
    with logged_in() as client:
        client.request("POST", f"/api/v1/runners/jobs/{job_uuid}/cancel")
    out.print(f"Job {job_uuid} cancelled.")


@jobs_app.command("delete")
def jobs_delete(
    job_uuid: Annotated[str, typer.Argument(metavar="UUID")], yes: YesOpt = False
) -> None:
    """Delete a job and its child jobs (cancelling them first if they still run)."""
    if not yes:
        typer.confirm(f"Delete job {job_uuid} and its child jobs?", abort=True)
    with logged_in() as client:
        client.request("DELETE", f"/api/v1/runners/jobs/{job_uuid}")
    out.print(f"Job {job_uuid} deleted.")
