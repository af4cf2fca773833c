"""`GET /metrics`: Prometheus' text format, for dashboards and alerts.

Gauges are read from the database at scrape time, so every instance process reports the same
totals; counters (`*_total`) count what this process did since it started, which is how
Prometheus expects them (it sums processes and handles restarts).

Scraping needs `Authorization: Bearer <OFFLOAD_METRICS_TOKEN>`, or an admin's bearer token when
no metrics token is configured: job counts and runner names are not public information.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

import sqlalchemy as sa
from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse

from offload import __version__
from offload.domain.jobs import JobState
from offload.domain.videos import VideoState
from offload.http.deps import ServicesDep, require_admin
from offload.http.errors import HttpProblem
from offload.http.services import Services
from offload.http.ui.dashboard import ONLINE_WINDOW_S, connected_runner_ids, count_online_runners
from offload.store.tables import runner_jobs, runners, videos

__all__ = ["render_metrics", "router"]

router = APIRouter()

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Exposition:
    """Collects metric families and renders them in the text exposition format."""

    def __init__(self) -> None:
        self._lines: list[str] = []

    def family(
        self, name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float]]
    ) -> None:
        self._lines.append(f"# HELP {name} {help_text}")
        self._lines.append(f"# TYPE {name} {kind}")
        for labels, value in samples:
            rendered = ",".join(f'{key}="{_escape(val)}"' for key, val in labels.items())
            self._lines.append(
                f"{name}{{{rendered}}} {_number(value)}" if rendered else f"{name} {_number(value)}"
            )

    def text(self) -> str:
        return "\n".join(self._lines) + "\n"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


async def render_metrics(services: Services) -> str:
    now = services.runners.now()
    connected = connected_runner_ids(services)
    out = _Exposition()
    out.family("offload_build_info", "gauge", "Offload's version.", [({"version": __version__}, 1)])
    async with services.db.read() as conn:
        by_state_type = (
            await conn.execute(
                sa.select(runner_jobs.c.state, runner_jobs.c.type, sa.func.count()).group_by(
                    runner_jobs.c.state, runner_jobs.c.type
                )
            )
        ).all()
        # Served by the (state, updated_at) index: a pending job's updated_at is when it became pending.
        oldest_pending = (
            await conn.execute(
                sa.select(sa.func.min(runner_jobs.c.updated_at)).where(
                    runner_jobs.c.state == int(JobState.PENDING)
                )
            )
        ).scalar_one()
        registered = (
            await conn.execute(sa.select(sa.func.count()).select_from(runners))
        ).scalar_one()
        online = await count_online_runners(conn, now, connected)
        by_video_state = (
            await conn.execute(sa.select(videos.c.state, sa.func.count()).group_by(videos.c.state))
        ).all()

    out.family(
        "offload_jobs",
        "gauge",
        "Runner jobs by state and type.",
        [
            ({"state": JobState(state).name.lower(), "type": job_type}, count)
            for state, job_type, count in sorted(by_state_type)
        ],
    )
    age = max(0.0, (now - oldest_pending).total_seconds()) if oldest_pending is not None else 0.0
    out.family(
        "offload_oldest_pending_job_age_seconds",
        "gauge",
        "How long the longest-waiting pending job has waited (0 with none).",
        [({}, round(age, 3))],
    )
    out.family("offload_runners", "gauge", "Registered runners.", [({}, registered)])
    out.family(
        "offload_runners_online",
        "gauge",
        f"Runners heard from in the last {ONLINE_WINDOW_S:.0f} s or holding a socket.",
        [({}, online)],
    )
    out.family(
        "offload_runner_sockets",
        "gauge",
        "Runner sockets connected to this process.",
        [({}, len(connected))],
    )
    out.family(
        "offload_videos",
        "gauge",
        "Videos by state.",
        [
            ({"state": VideoState(state).name.lower()}, count)
            for state, count in sorted(by_video_state)
        ],
    )
    jobs = services.jobs
    out.family(
        "offload_jobs_accepted_total",
        "counter",
        "Jobs accepted by runners through this process.",
        [({}, jobs.accepted_total)],
    )
    out.family(
        "offload_job_attempts_ended_total",
        "counter",
        "Job attempts this process ended, by outcome (completed, errored, aborted, stalled, cancelled, refused, lost, interrupted).",
        [({"outcome": outcome}, count) for outcome, count in sorted(jobs.attempt_outcomes.items())],
    )
    out.family(
        "offload_available_jobs_pings_total",
        "counter",
        "available-jobs broadcasts this process sent.",
        [({}, services.notifier.sent)],
    )
    return out.text()


async def _authorize(request: Request, services: Services) -> None:
    configured = services.settings.metrics_token
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if configured is not None and scheme.lower() == "bearer":
        if hmac.compare_digest(token.strip().encode(), configured.get_secret_value().encode()):
            return
    try:
        await require_admin(request, services)
    except HttpProblem as exc:
        if exc.status == 401 and configured is not None:
            raise HttpProblem(401, "A metrics token or an admin token is required") from None
        raise


@router.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
async def metrics(request: Request, services: ServicesDep) -> PlainTextResponse:
    await _authorize(request, services)
    return PlainTextResponse(await render_metrics(services), media_type=CONTENT_TYPE)
