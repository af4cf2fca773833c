"""Disk full during an upload, on a real small filesystem: the data dir is a 2 MiB tmpfs (the
database lives elsewhere, so only the media tree runs out of space).

The upload gets a clear 507 problem (no 500, no stack trace), nothing half-written stays, and
the instance keeps serving: the next upload that fits is stored. Mounting needs root (CI runs
as root); without it these tests skip loudly, or fail under OFFLOAD_REQUIRE_FAULTS=1.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.clips import MediaClips, upload
from tests.runner_jobs import hold_job
from tests.support import RunningInstance, start_instance

REQUIRE_FAULTS = os.environ.get("OFFLOAD_REQUIRE_FAULTS") == "1"
SMALL_DISK_BYTES = 2 * 1024 * 1024
#: More than the small disk holds: the upload must run out of space halfway.
TOO_BIG = os.urandom(3 * 1024 * 1024)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MiB tmpfs mounted on a temp dir for the test, unmounted afterwards."""
    mount_point = tmp_path / "small-disk"
    mount_point.mkdir()
    mount = shutil.which("mount")
    result = (
        subprocess.run(
            [mount, "-t", "tmpfs", "-o", f"size={SMALL_DISK_BYTES}", "tmpfs", str(mount_point)],
            capture_output=True,
            text=True,
        )
        if mount and os.geteuid() == 0
        else None
    )
    if result is None or result.returncode != 0:
        why = (
            result.stderr.strip()
            if result is not None
            else "mount needs root and the mount command"
        )
        message = f"cannot mount a small tmpfs ({why}): disk-full tests SKIPPED"
        if REQUIRE_FAULTS:
            pytest.fail(message + " but OFFLOAD_REQUIRE_FAULTS=1")
        pytest.skip(message)
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True, capture_output=True)


@pytest.fixture
def full_instance(small_disk: Path, database_url: str) -> Iterator[RunningInstance]:
    """An instance whose data dir is the small disk, on each database."""
    instance = start_instance(small_disk / "data", database_url)
    yield instance
    instance.stop()


def files_left(instance: RunningInstance) -> list[Path]:
    return sorted(p for p in Path(instance.settings.data_dir).rglob("*") if p.is_file())


def assert_clear_507(r: httpx.Response) -> None:
    assert 507 == r.status_code, r.text
    assert "application/problem+json" == r.headers["content-type"]
    assert 507 == r.json()["status"]
    assert "out of storage space" in r.json()["detail"]
    assert "Traceback" not in r.text


def assert_still_serving(instance: RunningInstance, clip: Path) -> None:
    stored = upload(instance, clip)
    assert 200 == stored.status_code, stored.text
    with instance.client() as c:
        assert 1 == c.get("/api/v1/videos").json()["total"]


def test_a_multipart_upload_that_fills_the_disk(
    full_instance: RunningInstance, media_clips: MediaClips
) -> None:
    """A 3 MiB multipart upload onto 2 MiB gets 507, leaves no file, and a small one passes after."""
    with full_instance.admin() as c:
        r = c.post(
            "/api/v1/videos/upload",
            data={"name": "too big"},
            files={"videofile": ("big.mp4", TOO_BIG)},
        )

    assert_clear_507(r)
    assert [] == files_left(full_instance)
    assert_still_serving(full_instance, media_clips.small)


def test_a_resumable_chunk_that_fills_the_disk(
    full_instance: RunningInstance, media_clips: MediaClips
) -> None:
    """A 3 MiB resumable chunk onto 2 MiB gets 507, the upload and its bytes are gone, and a
    small upload passes after."""
    total = len(TOO_BIG)
    with full_instance.admin() as c:
        started = c.post(
            "/api/v1/videos/upload-resumable",
            json={"name": "too big", "filename": "big.mp4"},
            headers={"X-Upload-Content-Length": str(total), "X-Upload-Content-Type": "video/mp4"},
        )
        location = started.headers["location"]
        r = c.put(
            location, content=TOO_BIG, headers={"Content-Range": f"bytes 0-{total - 1}/{total}"}
        )
        after = c.put(location, content=b"", headers={"Content-Range": f"bytes */{total}"})

    assert 201 == started.status_code, started.text
    assert_clear_507(r)
    assert 404 == after.status_code
    assert [] == files_left(full_instance)
    assert_still_serving(full_instance, media_clips.small)


def test_a_runner_output_that_fills_the_disk(full_instance: RunningInstance) -> None:
    """A runner's 3 MiB success onto 2 MiB gets 507 (not a 400 about a malformed body), leaves no
    temp file, and the job stays the runner's to report again."""
    held = hold_job(full_instance)
    with full_instance.client() as c:
        r = c.post(
            f"/api/v1/runners/jobs/{held.uuid}/success",
            data={"runnerToken": held.runner_token, "jobToken": held.job_token},
            files={"payload[videoFile]": ("output.mp4", TOO_BIG)},
        )

    assert_clear_507(r)
    assert [] == [p for p in files_left(full_instance) if "tmp" in p.parts]
    assert (
        "processing"
        == full_instance.call(full_instance.services.jobs.get, held.uuid).state.name.lower()
    )
