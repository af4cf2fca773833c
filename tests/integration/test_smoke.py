"""The instance starts, migrates and answers on both databases."""

from __future__ import annotations

from tests.ladder import enqueue_upload_ladder, register_runner
from tests.support import RunningInstance


def test_fresh_instance_has_one_registration_token(instance: RunningInstance) -> None:
    """A fresh instance lists exactly one registration token with no runner."""
    with instance.admin() as c:
        r = c.get("/api/v1/runners/registration-tokens")
    assert 200 == r.status_code
    body = r.json()
    assert 1 == body["total"]
    assert 0 == body["data"][0]["registeredRunnersCount"]
    assert body["data"][0]["registrationToken"].startswith("ptrrt-")


def test_a_job_goes_from_pending_to_completed(instance: RunningInstance) -> None:
    """request → accept → update → success moves the optimize job to COMPLETED and frees its children."""
    jobs = enqueue_upload_ladder(instance)
    runner = register_runner(instance)
    with instance.client() as c:
        available = c.post(
            "/api/v1/runners/jobs/request", json={"runnerToken": runner["runnerToken"]}
        ).json()["availableJobs"]
        assert [jobs[0].uuid] == [j["uuid"] for j in available]
        accepted = c.post(
            f"/api/v1/runners/jobs/{jobs[0].uuid}/accept",
            json={"runnerToken": runner["runnerToken"]},
        )
        assert 200 == accepted.status_code, accepted.text
        job_token = accepted.json()["job"]["jobToken"]
        auth = {"runnerToken": runner["runnerToken"], "jobToken": job_token}
        r = c.post(f"/api/v1/runners/jobs/{jobs[0].uuid}/update", data={**auth, "progress": "42"})
        assert 204 == r.status_code, r.text
        r = c.post(
            f"/api/v1/runners/jobs/{jobs[0].uuid}/success",
            data=auth,
            files={"payload[videoFile]": ("out.mp4", b"fake mp4 bytes")},
        )
        assert 204 == r.status_code, r.text
    with instance.admin() as c:
        listed = c.get("/api/v1/runners/jobs", params={"count": 20, "sort": "createdAt"}).json()
    states = [j["state"]["id"] for j in listed["data"]]
    assert 3 == states[0]
    assert 5 == states.count(1)  # HLS 720 + the four web-video renditions
    assert 4 == states.count(5)
