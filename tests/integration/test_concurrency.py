"""Races settled by the database over real HTTP: many runners accepting one job, two
successes for one job (protocol.md R4, R8 and §11 item 71)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import httpx

from offload.domain.jobs import JobSpec, JobType
from tests.ladder import register_runner
from tests.support import RunningInstance, async_wait_until

RUNNERS = 50


def enqueue_job(instance: RunningInstance) -> str:
    video = str(uuid.uuid4())
    url = f"{instance.url}/api/v1/runners/jobs/x/files/videos/{video}/max-quality"
    spec = JobSpec(
        JobType.VOD_WEB_VIDEO,
        {"input": {"videoFileUrl": url}, "output": {"resolution": 720, "fps": 25}},
        {"videoUUID": video},
        priority=100,
    )
    [job] = instance.call(instance.services.jobs.enqueue, [spec])
    return str(job.uuid)


async def register_runners(instance: RunningInstance, count: int) -> list[str]:
    """Register `count` distinct runners through the service layer; returns their tokens."""
    runners = instance.services.runners
    [token] = (await runners.list_registration_tokens(0, 1, False))[1]
    tokens = []
    for n in range(count):
        _, runner_token = await runners.register(
            registration_token=token.token,
            name=f"racer-{n}",
            description=None,
            version=None,
            ip=None,
        )
        tokens.append(runner_token)
    return tokens


def job_state(instance: RunningInstance, job_uuid: str) -> int:
    return int(instance.call(instance.services.jobs.get, job_uuid).state)


async def test_one_of_fifty_simultaneous_accepts_wins(instance: RunningInstance) -> None:
    """50 runners accepting one PENDING job at once: exactly one 200, 49 × 409 `runner_job_not_in_pending_state`."""
    job_uuid = enqueue_job(instance)
    runners = instance.call(register_runners, instance, RUNNERS)

    async with httpx.AsyncClient(
        base_url=instance.url, timeout=30.0, limits=httpx.Limits(max_connections=RUNNERS)
    ) as client:
        answers = await asyncio.gather(
            *(
                client.post(f"/api/v1/runners/jobs/{job_uuid}/accept", json={"runnerToken": token})
                for token in runners
            )
        )

    assert {200: 1, 409: RUNNERS - 1} == dict(Counter(r.status_code for r in answers))
    assert {"runner_job_not_in_pending_state"} == {
        r.json().get("code") for r in answers if r.status_code != 200
    }
    [winner] = [r.json()["job"] for r in answers if r.status_code == 200]
    assert 2 == job_state(instance, job_uuid)
    with instance.admin() as c:
        [listed] = [
            j for j in c.get("/api/v1/runners/jobs").json()["data"] if j["uuid"] == job_uuid
        ]
    assert winner["runner"]["name"] == listed["runner"]["name"]
    with instance.admin() as c:
        attempts = c.get(f"/api/v1/runners/jobs/{job_uuid}").json()["attempts"]
    assert [winner["runner"]["name"]] == [a["runnerName"] for a in attempts]


def test_accepting_a_job_another_runner_holds_is_a_lost_race(instance: RunningInstance) -> None:
    """A late accept of a job another runner already holds gets the race's 409, not a timing-dependent 400."""
    job_uuid = enqueue_job(instance)
    first, second = instance.call(register_runners, instance, 2)
    with instance.client() as c:
        won = c.post(f"/api/v1/runners/jobs/{job_uuid}/accept", json={"runnerToken": first})
        lost = c.post(f"/api/v1/runners/jobs/{job_uuid}/accept", json={"runnerToken": second})

    assert (200, 409) == (won.status_code, lost.status_code)
    assert "runner_job_not_in_pending_state" == lost.json()["code"]


async def test_two_simultaneous_successes_complete_the_job_once(instance: RunningInstance) -> None:
    """Two success calls at once on one job: one 204, the other 400 or 409; the job ends COMPLETED (item 71)."""
    job_uuid = enqueue_job(instance)
    runner_token = register_runner(instance)["runnerToken"]
    async with httpx.AsyncClient(base_url=instance.url, timeout=30.0) as client:
        accepted = await client.post(
            f"/api/v1/runners/jobs/{job_uuid}/accept", json={"runnerToken": runner_token}
        )
        assert 200 == accepted.status_code, accepted.text
        fields = {"runnerToken": runner_token, "jobToken": accepted.json()["job"]["jobToken"]}

        def success() -> object:
            return client.post(
                f"/api/v1/runners/jobs/{job_uuid}/success",
                data=fields,
                files={"payload[videoFile]": ("out.mp4", b"fake mp4 bytes" * 1000)},
            )

        answers = await asyncio.gather(success(), success())

    statuses = sorted(r.status_code for r in answers)
    assert 204 == statuses[0]
    assert statuses[1] in (400, 409), answers[1].text
    await async_wait_until(
        lambda: job_state(instance, job_uuid) == 3, timeout_s=10, message="job COMPLETED"
    )


async def test_simultaneous_registrations_under_one_name_make_one_runner(
    instance: RunningInstance,
) -> None:
    """10 registrations of one name at once, three times over: one 200 and nine PeerTube 400s each, never a 500."""
    [token] = instance.call(instance.services.runners.list_registration_tokens, 0, 1, False)[1]
    names = ["twin-a", "twin-b", "twin-c"]
    async with httpx.AsyncClient(
        base_url=instance.url, timeout=30.0, limits=httpx.Limits(max_connections=10)
    ) as client:
        rounds = [
            await asyncio.gather(
                *(
                    client.post(
                        "/api/v1/runners/register",
                        json={"registrationToken": token.token, "name": name},
                    )
                    for _ in range(10)
                )
            )
            for name in names
        ]

    for answers in rounds:
        assert {200: 1, 400: 9} == dict(Counter(r.status_code for r in answers)), [
            r.text for r in answers if r.status_code >= 500
        ]
        assert {"This runner name already exists on this instance"} == {
            r.json()["detail"] for r in answers if r.status_code == 400
        }
    with instance.admin() as c:
        listed = [r["name"] for r in c.get("/api/v1/runners", params={"count": 100}).json()["data"]]
    assert sorted(names) == sorted(listed)
