"""PeerTube's per-IP API rate limit, which registered runners and admins pass anyway
(protocol.md §1.6, §11 item 73)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.ladder import enqueue_upload_ladder, register_runner
from tests.support import RunningInstance

REQUEST = "/api/v1/runners/jobs/request"
LOOPS = 20


@dataclass
class Saturated:
    """An instance limited to 10 requests per window, whose window a runner has used up."""

    instance: RunningInstance
    client: httpx.Client
    runner_token: str
    job_uuid: str
    job_token: str

    def update(self, **fields: str) -> httpx.Response:
        parts = [(k, (None, v.encode())) for k, v in fields.items()]
        return self.client.post(f"/api/v1/runners/jobs/{self.job_uuid}/update", files=parts)


@pytest.fixture
def saturated(instance_factory: Callable[..., RunningInstance]) -> Iterator[Saturated]:
    # A long window: a slow machine must not reset the count before the checks run.
    instance = instance_factory(rate_limit_max=10, rate_limit_window_s=120.0)
    job_uuid = enqueue_upload_ladder(instance)[0].uuid
    runner_token = register_runner(instance)["runnerToken"]
    with instance.client() as client:
        accepted = client.post(
            f"/api/v1/runners/jobs/{job_uuid}/accept", json={"runnerToken": runner_token}
        )
        assert 200 == accepted.status_code, accepted.text
        state = Saturated(
            instance, client, runner_token, job_uuid, accepted.json()["job"]["jobToken"]
        )
        for _ in range(LOOPS):
            assert 200 == client.post(REQUEST, json={"runnerToken": runner_token}).status_code
            assert (
                204 == state.update(runnerToken=runner_token, jobToken=state.job_token).status_code
            )
        yield state


def test_unknown_runner_token_is_limited(saturated: Saturated) -> None:
    """Past the limit, request and update with runner token `toto` → 429 (item 73)."""
    request = saturated.client.post(REQUEST, json={"runnerToken": "toto"})
    update = saturated.update(runnerToken="toto", jobToken=saturated.job_token)

    assert (429, 429) == (request.status_code, update.status_code)


def test_missing_runner_token_is_limited(saturated: Saturated) -> None:
    """Past the limit, request and update without a runner token → 429, not a validation 400 (item 73)."""
    request = saturated.client.post(REQUEST, json={})
    update = saturated.update(jobToken=saturated.job_token)

    assert (429, 429) == (request.status_code, update.status_code)


def test_registered_runner_passes_the_limit(saturated: Saturated) -> None:
    """Past the limit, the registered runner's request and update still answer 200 and 204 (item 73)."""
    request = saturated.client.post(REQUEST, json={"runnerToken": saturated.runner_token})
    update = saturated.update(runnerToken=saturated.runner_token, jobToken=saturated.job_token)

    assert (200, 204) == (request.status_code, update.status_code)


def test_admin_passes_the_limit(saturated: Saturated) -> None:
    """Past the limit, an authenticated admin still lists registration tokens (§1.6)."""
    headers: dict[str, Any] = {"Authorization": f"Bearer {saturated.instance.admin_token()}"}

    r = saturated.client.get("/api/v1/runners/registration-tokens", headers=headers)

    assert 200 == r.status_code
