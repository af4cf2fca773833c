"""A job ladder shaped like the one PeerTube builds for a 720p upload with web videos + HLS
and every resolution on (protocol.md §5.8): 10 jobs, 1 PENDING and 9 WAITING. Conformance
tests of the job API use it until they can upload real files."""

from __future__ import annotations

import uuid
from typing import Any

from offload.domain.jobs import JobSpec, JobType
from tests.support import RunningInstance


def upload_ladder_specs(public_url: str, video_uuid: str, fps: int = 25) -> list[JobSpec]:
    def urls(job_placeholder: str = "{job}") -> dict[str, Any]:
        base = f"{public_url}/api/v1/runners/jobs/{job_placeholder}/files/videos/{video_uuid}"
        return {"videoFileUrl": f"{base}/max-quality", "separatedAudioFileUrl": []}

    specs = [
        JobSpec(
            JobType.VOD_WEB_VIDEO,
            {"input": urls(), "output": {"resolution": 720, "fps": fps}},
            {
                "videoUUID": video_uuid,
                "isNewVideo": True,
                "deleteInputFileId": 1,
                "canMoveVideoState": False,
            },
            priority=100,
        ),
        JobSpec(
            JobType.VOD_HLS,
            {"input": urls(), "output": {"resolution": 720, "fps": fps, "separatedAudio": False}},
            {
                "videoUUID": video_uuid,
                "isNewVideo": True,
                "deleteWebVideoFiles": False,
                "canMoveVideoState": True,
            },
            priority=100,
            parent=0,
        ),
    ]
    for resolution in (480, 360, 240, 144):
        specs.append(
            JobSpec(
                JobType.VOD_WEB_VIDEO,
                {"input": urls(), "output": {"resolution": resolution, "fps": fps}},
                {
                    "videoUUID": video_uuid,
                    "isNewVideo": True,
                    "deleteInputFileId": None,
                    "canMoveVideoState": True,
                },
                priority=10000,
                parent=0,
            )
        )
        specs.append(
            JobSpec(
                JobType.VOD_HLS,
                {
                    "input": urls(),
                    "output": {"resolution": resolution, "fps": fps, "separatedAudio": False},
                },
                {
                    "videoUUID": video_uuid,
                    "isNewVideo": True,
                    "deleteWebVideoFiles": False,
                    "canMoveVideoState": True,
                },
                priority=10000,
                parent=len(specs) - 1,
            )
        )
    return specs


def enqueue_upload_ladder(instance: RunningInstance, video_uuid: str | None = None) -> list[Any]:
    """Create the 10-job ladder through the service layer; returns the created jobs in order."""
    video_uuid = video_uuid or str(uuid.uuid4())
    specs = upload_ladder_specs(instance.url, video_uuid)
    return list(instance.call(instance.services.jobs.enqueue, specs))


def register_runner(
    instance: RunningInstance,
    name: str = "runner-1",
    registration_token: str | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """Register a runner over HTTP; returns `{id, runnerToken}`."""
    if registration_token is None:
        with instance.admin() as c:
            registration_token = c.get("/api/v1/runners/registration-tokens").json()["data"][0][
                "registrationToken"
            ]
    with instance.client() as c:
        r = c.post(
            "/api/v1/runners/register",
            json={"registrationToken": registration_token, "name": name, **extra},
        )
    assert 200 == r.status_code, r.text
    return dict(r.json())
