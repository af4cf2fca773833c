"""`GET /metrics` in Prometheus' text format: who may read it, and figures that follow the jobs."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from offload import __version__
from tests.ladder import enqueue_upload_ladder, register_runner
from tests.support import RunningInstance, wait_until

METRICS_TOKEN = "scrape-me-" + "x" * 20
_SAMPLE = re.compile(r"^(?P<name>[a-z_]+)(?:\{(?P<labels>[^}]*)\})? (?P<value>\S+)$")


def parse(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Samples by (name, labels); HELP/TYPE lines must precede each family."""
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = {}
    typed: set[str] = set()
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            typed.add(line.split()[2])
            continue
        if line.startswith("#") or not line:
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        assert match["name"] in typed, f"{match['name']} has no TYPE line before it"
        labels = frozenset(re.findall(r'(\w+)="([^"]*)"', match["labels"] or ""))
        samples[(match["name"], labels)] = float(match["value"])
    return samples


def value(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


@pytest.fixture
def metered(instance_factory: Callable[..., RunningInstance]) -> RunningInstance:
    return instance_factory(metrics_token=METRICS_TOKEN)


def scrape(
    instance: RunningInstance, token: str | None = METRICS_TOKEN
) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    with instance.client(headers=headers) as c:
        r = c.get("/metrics")
    assert 200 == r.status_code, r.text
    assert r.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(r.text)


def test_metrics_need_the_metrics_token_or_an_admin(metered: RunningInstance) -> None:
    with metered.client() as c:
        anonymous = c.get("/metrics")
        wrong = c.get("/metrics", headers={"Authorization": "Bearer not-the-token"})

    assert (401, 401) == (anonymous.status_code, wrong.status_code)
    assert 401 == anonymous.json()["status"]
    assert 1 == value(scrape(metered), "offload_build_info", version=__version__)
    assert scrape(metered, token=metered.admin_token())


def test_without_a_metrics_token_only_admins_read_them(instance: RunningInstance) -> None:
    with instance.client(headers={"Authorization": "Bearer anything"}) as c:
        assert 401 == c.get("/metrics").status_code

    assert scrape(instance, token=instance.admin_token())


def test_figures_follow_the_jobs_and_runners(metered: RunningInstance) -> None:
    """A ladder, one accept, one cancel: gauges by state and type, and this process's counters."""
    before = scrape(metered)
    runner = register_runner(metered)
    jobs = enqueue_upload_ladder(metered)
    with metered.client() as c:
        assert (
            200
            == c.post(
                f"/api/v1/runners/jobs/{jobs[0].uuid}/accept",
                json={"runnerToken": runner["runnerToken"]},
            ).status_code
        )
    with metered.admin() as c:
        assert 204 == c.post(f"/api/v1/runners/jobs/{jobs[0].uuid}/cancel").status_code

    after = scrape(metered)

    web, hls = "vod-web-video-transcoding", "vod-hls-transcoding"
    assert 1 == value(after, "offload_jobs", state="cancelled", type=web)
    assert 4 == value(after, "offload_jobs", state="parent_cancelled", type=web)
    assert 5 == value(after, "offload_jobs", state="parent_cancelled", type=hls)
    assert (0, 1, 1) == (
        value(before, "offload_runners"),
        value(after, "offload_runners"),
        value(after, "offload_runners_online"),
    )
    assert 1 == value(after, "offload_jobs_accepted_total") - value(
        before, "offload_jobs_accepted_total"
    )
    assert 1 == value(after, "offload_job_attempts_ended_total", outcome="cancelled")
    assert 0 == value(after, "offload_oldest_pending_job_age_seconds")


def test_oldest_pending_job_age_grows(metered: RunningInstance) -> None:
    enqueue_upload_ladder(metered)
    first = value(scrape(metered), "offload_oldest_pending_job_age_seconds")

    assert 0 <= first
    wait_until(
        lambda: value(scrape(metered), "offload_oldest_pending_job_age_seconds") > first,
        timeout_s=10,
        message="age to grow",
    )
