"""Offload's `POST /api/v1/runners/jobs/claim`: request + accept in one atomic call, on both
databases. Concurrent claims never get the same job and never fail for having lost a race."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

import httpx

from offload.domain.jobs import JobSpec, JobType
from tests.conformance import assert_problem
from tests.ladder import enqueue_upload_ladder, register_runner
from tests.support import RunningInstance

CLAIM = "/api/v1/runners/jobs/claim"
WEB, HLS = "vod-web-video-transcoding", "vod-hls-transcoding"


def claim(instance: RunningInstance, **body: Any) -> httpx.Response:
    with instance.client() as c:
        return c.post(CLAIM, json=body)


def test_claim_accepts_the_best_jobs_for_this_runner(instance: RunningInstance) -> None:
    """Two parents (priority 100) pending, their children waiting: a claim of 5 takes both
    parents, in order, as PROCESSING for this runner, with tokens that work."""
    first, second = enqueue_upload_ladder(instance)[0], enqueue_upload_ladder(instance)[0]
    runner = register_runner(instance, name="claimer")

    r = claim(instance, runnerToken=runner["runnerToken"], maxJobs=5)

    assert 200 == r.status_code, r.text
    jobs = r.json()["jobs"]
    assert [first.uuid, second.uuid] == [j["uuid"] for j in jobs]
    assert all(j["state"]["id"] == 2 and j["jobToken"].startswith("ptrjt-") for j in jobs)
    with instance.client() as c:
        update = c.post(
            f"/api/v1/runners/jobs/{first.uuid}/update",
            files=[
                ("runnerToken", (None, runner["runnerToken"].encode())),
                ("jobToken", (None, jobs[0]["jobToken"].encode())),
            ],
        )
    assert 204 == update.status_code, update.text
    with instance.admin() as c:
        listed = {
            j["uuid"]: j
            for j in c.get("/api/v1/runners/jobs", params={"count": 100}).json()["data"]
        }
    assert "claimer" == listed[first.uuid]["runner"]["name"]


def test_claim_honours_types_and_limit_and_answers_empty(instance: RunningInstance) -> None:
    enqueue_upload_ladder(instance)
    enqueue_upload_ladder(instance)
    token = register_runner(instance)["runnerToken"]

    only_hls = claim(instance, runnerToken=token, jobTypes=[HLS], maxJobs=10)
    one_web = claim(instance, runnerToken=token, jobTypes=[WEB], maxJobs=1)
    none_left = claim(instance, runnerToken=token, jobTypes=[WEB], maxJobs=10)

    assert [] == only_hls.json()["jobs"]  # every HLS job waits for its parent
    assert [WEB] == [j["type"] for j in one_web.json()["jobs"]]
    assert 1 == len(none_left.json()["jobs"])
    assert [] == claim(instance, runnerToken=token, maxJobs=10).json()["jobs"]


def test_claim_refuses_bad_input(instance: RunningInstance) -> None:
    token = register_runner(instance)["runnerToken"]

    assert_problem(claim(instance, runnerToken=token, maxJobs=0), 400)
    assert_problem(claim(instance, runnerToken=token, maxJobs=11), 400)
    assert_problem(claim(instance, runnerToken=token, maxJobs="2"), 400)
    assert_problem(claim(instance, runnerToken=token, jobTypes=["not-a-type"]), 400)
    assert_problem(claim(instance, runnerToken=token, jobTypes="vod-hls-transcoding"), 400)
    assert_problem(claim(instance), 400)
    assert_problem(
        claim(instance, runnerToken="ptrt-00000000-0000-4000-8000-000000000000"),
        404,
        code="unknown_runner_token",
    )


async def test_concurrent_claims_share_the_jobs_out(instance: RunningInstance) -> None:
    """30 claims at once for 10 pending jobs: 10 distinct jobs handed out, every call a 200."""
    for _ in range(10):
        enqueue_upload_ladder(instance)
    tokens = [register_runner(instance, name=f"r{i}")["runnerToken"] for i in range(30)]

    async with httpx.AsyncClient(base_url=instance.url, timeout=60) as c:
        answers = await asyncio.gather(*(c.post(CLAIM, json={"runnerToken": t}) for t in tokens))

    assert [200] * 30 == [a.status_code for a in answers]
    claimed = [j["uuid"] for a in answers for j in a.json()["jobs"]]
    assert 10 == len(claimed) == len(set(claimed))


def test_claim_can_be_switched_off(instance_factory: Callable[..., RunningInstance]) -> None:
    """With `runner_claim_enabled = false` the runner API is PeerTube's alone: 404."""
    instance = instance_factory(runner_claim_enabled=False)
    token = register_runner(instance)["runnerToken"]

    assert 404 == claim(instance, runnerToken=token).status_code


def test_a_runner_declaring_a_max_resolution_gets_nothing_taller(instance: RunningInstance) -> None:
    """`maxResolution` keeps a small machine off tall renditions; jobs with no picture (a
    transcription) are for anyone. Priority order is kept among what fits."""

    def web(resolution: int) -> JobSpec:
        return JobSpec(
            JobType.VOD_WEB_VIDEO,
            {"input": {}, "output": {"resolution": resolution, "fps": 25}},
            {"videoUUID": str(uuid.uuid4())},
            priority=resolution,
        )

    transcription = JobSpec(
        JobType.TRANSCRIPTION,
        {"input": {"videoFileUrl": "http://i/v.mp4"}},
        {"videoUUID": str(uuid.uuid4())},
        priority=5000,
    )
    created = instance.call(
        instance.services.jobs.enqueue, [web(2160), web(1080), web(480), web(240), transcription]
    )
    by_resolution = {
        2160: created[0].uuid,
        1080: created[1].uuid,
        480: created[2].uuid,
        240: created[3].uuid,
    }
    token = register_runner(instance, name="small")["runnerToken"]

    small = claim(instance, runnerToken=token, maxJobs=10, maxResolution=480).json()["jobs"]
    big = claim(instance, runnerToken=token, maxJobs=10).json()["jobs"]

    assert [by_resolution[240], by_resolution[480], created[4].uuid] == [j["uuid"] for j in small]
    assert [by_resolution[1080], by_resolution[2160]] == [j["uuid"] for j in big]
    assert_problem(claim(instance, runnerToken=token, maxResolution=-1), 400)
