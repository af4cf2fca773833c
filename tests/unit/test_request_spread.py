"""`request` answers spread concurrent runners over the best-priority jobs without breaking priority order."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from offload.domain.jobs import Job, JobState, JobType
from offload.instance.jobs import spread_best_tier

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def job(job_id: int, priority: int) -> Job:
    return Job(
        id=job_id, uuid=f"u{job_id}", type=JobType.VOD_WEB_VIDEO, state=JobState.PENDING, priority=priority,
        failures=0, progress=None, error=None, payload={}, private_payload={}, runner_id=None, parent_id=None,
        attempt=0, job_token_digest=None, started_at=None, finished_at=None, created_at=NOW, updated_at=NOW,
    )  # fmt: skip


def test_only_the_best_tier_is_shuffled() -> None:
    """Jobs of the best priority come first in some order; worse priorities follow in id order."""
    jobs = [job(1, 100), job(2, 100), job(3, 100), job(4, 10000), job(5, 10000)]

    spread = spread_best_tier(jobs, random.Random(7))

    assert {1, 2, 3} == {j.id for j in spread[:3]}
    assert [4, 5] == [j.id for j in spread[3:]]


def test_different_answers_lead_with_different_jobs() -> None:
    """Over many answers, every best-priority job gets to be first: runners stop racing for one job."""
    jobs = [job(i, 100) for i in range(1, 11)]
    rng = random.Random(1)

    firsts = {spread_best_tier(jobs, rng)[0].id for _ in range(200)}

    assert set(range(1, 11)) == firsts


def test_empty_window_gives_an_empty_answer() -> None:
    """No pending job, no answer."""
    assert [] == spread_best_tier([], random.Random(0))
