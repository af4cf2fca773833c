"""With remote VOD runners off, the instance's own workers run the same jobs through the same
transitions and the same processor code, and the video ends the same way."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from offload.media.probe import probe
from tests.clips import MediaClips, jobs_of, set_config, upload
from tests.support import RunningInstance, start_instance, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def local_instance(tmp_path: Path) -> Iterator[RunningInstance]:
    instance = start_instance(tmp_path / "data", remote_vod=False)
    yield instance
    instance.stop()


def video_state(instance: RunningInstance, video_uuid: str) -> dict[str, Any]:
    with instance.client() as c:
        return dict(c.get(f"/api/v1/videos/{video_uuid}").json())


def test_upload_is_transcoded_locally(
    local_instance: RunningInstance, media_clips: MediaClips, tmp_path: Path
) -> None:
    """Every job of the ladder runs on the instance; the video is published with all renditions."""
    instance = local_instance
    video_uuid = upload(instance, media_clips.small).json()["video"]["uuid"]

    wait_until(
        lambda: (
            video_state(instance, video_uuid)["state"]["id"] != 2
            and all(j["state"]["id"] == 3 for j in jobs_of(instance))
        ),
        timeout_s=90,
        message="local transcoding",
    )
    video = video_state(instance, video_uuid)
    with instance.admin() as c:
        attempts = [
            c.get(f"/api/v1/runners/jobs/{j['uuid']}").json()["attempts"] for j in jobs_of(instance)
        ]

    assert {"id": 1, "label": "Published"} == video["state"]
    assert [240, 144] == [f["resolution"]["id"] for f in video["files"]]
    assert [240, 144] == [f["resolution"]["id"] for f in video["streamingPlaylists"][0]["files"]]
    assert [["instance (local)"]] * 4 == [
        [a["runnerName"] for a in history] for history in attempts
    ]
    stored = tmp_path / "144.mp4"
    stored.write_bytes(httpx.get(video["files"][1]["fileUrl"], timeout=10.0).content)
    assert (144, True) == (probe(stored).resolution, probe(stored).has_audio)


def test_split_audio_is_served_as_an_audio_group(
    local_instance: RunningInstance, media_clips: MediaClips
) -> None:
    """Split audio: video-only renditions plus an audio-only one that the master lists as a group."""
    instance = local_instance
    set_config(
        instance,
        {"transcoding": {"hls": {"splitAudioAndVideo": True}, "webVideos": {"enabled": False}}},
    )
    video_uuid = upload(instance, media_clips.small).json()["video"]["uuid"]

    wait_until(
        lambda: all(j["state"]["id"] == 3 for j in jobs_of(instance)),
        timeout_s=90,
        message="local transcoding",
    )
    video = video_state(instance, video_uuid)
    hls = video["streamingPlaylists"][0]
    master = httpx.get(hls["playlistUrl"], timeout=10.0).text

    assert {"id": 1, "label": "Published"} == video["state"]
    assert [(240, True, False), (144, True, False), (0, False, True)] == [
        (f["resolution"]["id"], f["hasVideo"], f["hasAudio"]) for f in hls["files"]
    ]
    assert 1 == master.count('#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio"')
    assert 2 == master.count('AUDIO="audio"')
    assert [] == video["files"]


def test_switching_remote_back_on_leaves_new_uploads_to_runners(
    local_instance: RunningInstance, media_clips: MediaClips
) -> None:
    """Turning remote VOD runners on applies to uploads made afterwards: no local worker claims them."""
    instance = local_instance
    set_config(instance, {"transcoding": {"remoteRunners": {"enabled": True}}})

    upload(instance, media_clips.small)
    claimed = instance.call(instance.services.extras["media"].workers.claim)

    assert claimed is None
    assert [1, 5, 5, 5] == [j["state"]["id"] for j in jobs_of(instance)]
