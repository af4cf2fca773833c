"""The runner's side of a job, over HTTP: accept, report progress, report an error."""

from __future__ import annotations

from tests.support import RunningInstance

__all__ = ["accept_job", "post_error", "post_progress"]


def accept_job(instance: RunningInstance, runner_token: str, job_uuid: str) -> str:
    """Accept a pending job over HTTP as the runner; returns its job token."""
    with instance.client() as c:
        r = c.post(f"/api/v1/runners/jobs/{job_uuid}/accept", json={"runnerToken": runner_token})
    assert 200 == r.status_code, r.text
    return str(r.json()["job"]["jobToken"])


def post_progress(
    instance: RunningInstance, runner_token: str, job_uuid: str, job_token: str, progress: int
) -> None:
    with instance.client() as c:
        r = c.post(
            f"/api/v1/runners/jobs/{job_uuid}/update",
            data={"runnerToken": runner_token, "jobToken": job_token, "progress": str(progress)},
        )
    assert 204 == r.status_code, r.text


def post_error(
    instance: RunningInstance, runner_token: str, job_uuid: str, job_token: str, message: str
) -> None:
    with instance.client() as c:
        r = c.post(
            f"/api/v1/runners/jobs/{job_uuid}/error",
            json={"runnerToken": runner_token, "jobToken": job_token, "message": message},
        )
    assert 204 == r.status_code, r.text
