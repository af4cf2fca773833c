"""Jobs created for local processing are never offered to, nor accepted by, remote runners."""

from __future__ import annotations

from collections.abc import Callable

from tests.clips import MediaClips, jobs_of, upload
from tests.ladder import register_runner
from tests.support import RunningInstance


def test_local_jobs_are_invisible_to_runners(
    instance_factory: Callable[..., RunningInstance], media_clips: MediaClips
) -> None:
    """With remote VOD off (and no local worker to race), request lists nothing and accept is refused."""
    instance = instance_factory(remote_vod=False, local_transcoding_concurrency=0)
    assert 200 == upload(instance, media_clips.small).status_code
    [pending] = [j for j in jobs_of(instance) if j["state"]["id"] == 1]
    runner = register_runner(instance)
    with instance.client() as c:
        available = c.post(
            "/api/v1/runners/jobs/request", json={"runnerToken": runner["runnerToken"]}
        ).json()["availableJobs"]
        accepted = c.post(
            f"/api/v1/runners/jobs/{pending['uuid']}/accept",
            json={"runnerToken": runner["runnerToken"]},
        )
    assert [] == available
    assert 409 == accepted.status_code
    assert [1] == [j["state"]["id"] for j in jobs_of(instance) if j["uuid"] == pending["uuid"]]
