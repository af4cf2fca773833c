"""Upload caps by job type: every wire type has one, from the setting of its kind of file."""

from __future__ import annotations

from offload.domain.jobs import JobType
from offload.http.routes.runner_api import (
    UPLOAD_OVERHEAD_BYTES,
    largest_upload_limits,
    upload_limits,
)
from offload.settings import InstanceSettings


def test_every_job_type_has_the_cap_of_its_kind_of_file() -> None:
    """Video jobs take a video, live a chunk, storyboards an image, transcription a caption."""
    settings = InstanceSettings(
        runner_video_upload_max_bytes=40_000,
        runner_live_chunk_max_bytes=30_000,
        runner_image_upload_max_bytes=20_000,
        runner_caption_upload_max_bytes=10_000,
    )
    expected = {
        JobType.VOD_WEB_VIDEO: 40_000,
        JobType.VOD_HLS: 40_000,
        JobType.VOD_AUDIO_MERGE: 40_000,
        JobType.STUDIO: 40_000,
        JobType.LIVE_RTMP_HLS: 30_000,
        JobType.STORYBOARD: 20_000,
        JobType.TRANSCRIPTION: 10_000,
    }

    actual = {t: upload_limits(settings, t) for t in JobType}

    assert expected == {t: limits.file_bytes for t, limits in actual.items()}
    assert {t: n + UPLOAD_OVERHEAD_BYTES for t, n in expected.items()} == {
        t: limits.body_bytes for t, limits in actual.items()
    }
    assert upload_limits(settings, JobType.VOD_HLS) == largest_upload_limits(settings)
