"""A job a registered runner holds (accepted, with its tokens): what runner uploads are posted
with in tests."""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass

from offload.domain.jobs import JobSpec, JobType
from tests.ladder import register_runner
from tests.rawhttp import RawAnswer, chunked, multipart_body, send_partial
from tests.support import RunningInstance

__all__ = ["FILE_FIELD", "HeldJob", "hold_job"]

#: A file field each call takes.
FILE_FIELD = {"update": "payload[videoChunkFile]", "success": "payload[videoFile]"}


@dataclass
class HeldJob:
    """A job a registered runner accepted: what a runner posts its upload with."""

    instance: RunningInstance
    uuid: str
    runner_token: str
    job_token: str

    def path(self, action: str) -> str:
        return f"/api/v1/runners/jobs/{self.uuid}/{action}"

    def tokens(self, **changes: str) -> list[tuple[str, bytes, str | None]]:
        values = {"runnerToken": self.runner_token, "jobToken": self.job_token, **changes}
        return [(name, value.encode(), None) for name, value in values.items()]

    def leftovers(self) -> list[str]:
        """Temp files of uploads in flight or abandoned."""
        uploads = self.instance.settings.data_dir / "tmp" / "uploads"
        return sorted(os.listdir(uploads)) if uploads.exists() else []

    def start_upload(
        self,
        action: str,
        parts: list[tuple[str, bytes, str | None]],
        file_bytes: int,
        declared: int | None,
    ) -> RawAnswer:
        """Send `parts`, then the head of a file part and `file_bytes` of it, and read the
        answer; `declared` is the Content-Length announced (None: chunked, never finished)."""
        content_type, body = multipart_body(parts, boundary="b0undary")
        start = body[: -len(b"--b0undary--\r\n")]
        head = f'--b0undary\r\nContent-Disposition: form-data; name="{FILE_FIELD[action]}"; filename="o"\r\n\r\n'
        start += head.encode()
        start += os.urandom(file_bytes)
        headers = {"Content-Type": content_type}
        if declared is None:
            headers["Transfer-Encoding"] = "chunked"
            start = chunked(start, last=False)
        else:
            headers["Content-Length"] = str(declared)
        return send_partial(self.instance.url, "POST", self.path(action), headers, start)


def hold_job(instance: RunningInstance, job_type: JobType = JobType.VOD_WEB_VIDEO) -> HeldJob:
    runner_token = register_runner(instance, name=f"runner-{uuid.uuid4().hex[:6]}")["runnerToken"]
    spec = JobSpec(
        job_type, {"input": {}, "output": {}}, {"videoUUID": str(uuid.uuid4())}, priority=100
    )
    [job] = instance.call(instance.services.jobs.enqueue, [spec])
    with instance.client() as client:
        accepted = client.post(
            f"/api/v1/runners/jobs/{job.uuid}/accept", json={"runnerToken": runner_token}
        )
    assert 200 == accepted.status_code, accepted.text
    return HeldJob(instance, job.uuid, runner_token, accepted.json()["job"]["jobToken"])
