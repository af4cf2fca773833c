"""Uploads transcoded for real: a runner played over HTTP runs the same processor code as the
real one, the instance checks, stores and publishes (§11 items 85–94). SQLite only: these run
ffmpeg, and the database paths they use are covered on both backends elsewhere."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from offload.media.probe import probe
from tests.clips import HttpRunner, MediaClips, jobs_of, make, set_config, upload
from tests.support import RunningInstance, start_instance, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture
def sqlite_instance(tmp_path: Path) -> Iterator[RunningInstance]:
    instance = start_instance(tmp_path / "data")
    yield instance
    instance.stop()


def video_of(instance: RunningInstance, video_uuid: str) -> dict[str, Any]:
    with instance.client() as c:
        r = c.get(f"/api/v1/videos/{video_uuid}")
    assert 200 == r.status_code, r.text
    return dict(r.json())


def fetch(url: str, tmp_path: Path, **headers: str) -> tuple[httpx.Response, Path]:
    r = httpx.get(url, headers=headers, timeout=30.0)
    path = tmp_path / url.rsplit("/", 1)[1]
    path.write_bytes(r.content)
    return r, path


def web_files_on_disk(instance: RunningInstance) -> list[str]:
    return sorted(p.name for p in (Path(instance.settings.data_dir) / "web-videos").iterdir())


class TestTranscoded:
    def test_web_and_hls_ladder_is_published_and_playable(
        self, sqlite_instance: RunningInstance, media_clips: MediaClips, tmp_path: Path
    ) -> None:
        """Every rendition probes at its resolution, the master lists them all, the video is published."""
        instance = sqlite_instance
        video_uuid = upload(instance, media_clips.small).json()["video"]["uuid"]
        runner = HttpRunner.register(instance)

        done = runner.run_all(tmp_path / "work")
        video = video_of(instance, video_uuid)

        assert [
            "vod-web-video-transcoding:240",
            "vod-hls-transcoding:240",
            "vod-web-video-transcoding:144",
            "vod-hls-transcoding:144",
        ] == done
        assert {"id": 1, "label": "Published"} == video["state"]
        assert [240, 144] == [f["resolution"]["id"] for f in video["files"]]
        assert [240, 144] == [
            f["resolution"]["id"] for f in video["streamingPlaylists"][0]["files"]
        ]
        for listed in video["files"] + video["streamingPlaylists"][0]["files"]:
            response, path = fetch(listed["fileUrl"], tmp_path)
            info = probe(path)
            assert (200, "video/mp4") == (response.status_code, response.headers["content-type"])
            assert (listed["resolution"]["id"], True, True) == (
                info.resolution,
                info.has_video,
                info.has_audio,
            )
        master, _ = fetch(video["streamingPlaylists"][0]["playlistUrl"], tmp_path)
        renditions = re.findall(r"#EXT-X-STREAM-INF:(.*)\n(.*)", master.text)
        assert "application/vnd.apple.mpegurl" == master.headers["content-type"]
        assert ["RESOLUTION=192x144", "RESOLUTION=320x240"] == [
            re.search(r"RESOLUTION=\d+x\d+", attrs).group(0) for attrs, _ in renditions
        ]  # type: ignore[union-attr]
        assert all(
            re.search(r"BANDWIDTH=\d+", a)
            and re.search(r'CODECS="avc1\.[0-9A-F]{6},mp4a\.40\.2"', a)
            for a, _ in renditions
        )
        for _, playlist in renditions:
            variant, _ = fetch(
                video["streamingPlaylists"][0]["playlistUrl"].replace("master.m3u8", playlist),
                tmp_path,
            )
            assert 200 == variant.status_code
            assert "#EXT-X-ENDLIST" in variant.text
        # The original upload goes once the optimize output replaced it.
        wait_until(
            lambda: 2 == len(web_files_on_disk(instance)), message="the uploaded file to be deleted"
        )

    def test_static_files_answer_ranges(
        self, sqlite_instance: RunningInstance, media_clips: MediaClips, tmp_path: Path
    ) -> None:
        """Static web videos answer Range requests with 206 and CORS for browser players."""
        instance = sqlite_instance
        set_config(instance, {"transcoding": {"enabled": False}})
        video_uuid = upload(instance, media_clips.small).json()["video"]["uuid"]
        url = video_of(instance, video_uuid)["files"][0]["fileUrl"]

        part, _ = fetch(url, tmp_path, Range="bytes=0-9")
        missing = httpx.get(url.replace("web-videos/", "web-videos/x"), timeout=10.0)

        assert (206, media_clips.small.read_bytes()[:10], "*") == (
            part.status_code,
            part.content,
            part.headers["access-control-allow-origin"],
        )
        assert 404 == missing.status_code

    def test_hls_only_ends_with_no_web_video(
        self, sqlite_instance: RunningInstance, media_clips: MediaClips, tmp_path: Path
    ) -> None:
        """HLS only, portrait clip: after all jobs, 0 web files and 2 HLS renditions (§11.88–90)."""
        instance = sqlite_instance
        set_config(instance, {"transcoding": {"webVideos": {"enabled": False}}})
        video_uuid = upload(instance, media_clips.portrait).json()["video"]["uuid"]
        runner = HttpRunner.register(instance)

        runner.run_all(tmp_path / "work")
        video = video_of(instance, video_uuid)
        hls = video["streamingPlaylists"][0]["files"]

        assert [] == video["files"]
        assert [(240, 240, 426), (144, 144, 256)] == [
            (f["resolution"]["id"], f["width"], f["height"]) for f in hls
        ]
        assert {"id": 1, "label": "Published"} == video["state"]
        wait_until(lambda: [] == web_files_on_disk(instance), message="web videos to be deleted")

    def test_audio_upload_is_merged_then_laddered(
        self, sqlite_instance: RunningInstance, media_clips: MediaClips, tmp_path: Path
    ) -> None:
        """Audio + preview: the merge makes a 480p video, then the lower renditions (§11.92–94)."""
        instance = sqlite_instance
        set_config(instance, {"transcoding": {"resolutions": {"360p": False, "240p": False}}})
        video_uuid = upload(instance, media_clips.audio, preview=media_clips.preview).json()[
            "video"
        ]["uuid"]
        runner = HttpRunner.register(instance)

        done = runner.run_all(tmp_path / "work")
        video = video_of(instance, video_uuid)

        assert [
            "vod-audio-merge-transcoding:480",
            "vod-hls-transcoding:480",
            "vod-web-video-transcoding:144",
            "vod-hls-transcoding:144",
        ] == done
        assert [(480, True, True), (144, True, True)] == [
            (f["resolution"]["id"], f["hasVideo"], f["hasAudio"]) for f in video["files"]
        ]
        assert {"id": 1, "label": "Published"} == video["state"]


class TestVerification:
    def test_wrong_resolution_output_fails_the_attempt_and_the_job_is_retried(
        self, sqlite_instance: RunningInstance, media_clips: MediaClips, tmp_path: Path
    ) -> None:
        """A 160x120 file for a 240p job is refused: counted as a failure, offered again."""
        instance = sqlite_instance
        upload(instance, media_clips.small)
        runner = HttpRunner.register(instance)
        job = runner.accept(runner.request()[0]["uuid"])

        answered = runner.success(job, {"videoFile": make(tmp_path / "small.mp4", size="160x120")})
        retried = jobs_of(instance)[0]
        with instance.admin() as c:
            attempts = c.get(f"/api/v1/runners/jobs/{job['uuid']}").json()["attempts"]

        assert 204 == answered.status_code
        assert ({"id": 1, "label": "Pending"}, 1) == (retried["state"], retried["failures"])
        assert "refused" == attempts[0]["outcome"]
        assert "160x120" in attempts[0]["message"]
        assert [job["uuid"]] == [j["uuid"] for j in runner.request()]

    @pytest.mark.parametrize(
        ("output", "reason"),
        [
            ({"size": "320x240", "audio": False}, "no audio stream"),
            ({"size": "320x240", "duration_s": 3.0}, "lasts 3.00 s"),
            ({"size": None}, "no video stream"),
        ],
    )
    def test_outputs_not_matching_the_job_are_refused(
        self,
        sqlite_instance: RunningInstance,
        media_clips: MediaClips,
        tmp_path: Path,
        output: dict[str, Any],
        reason: str,
    ) -> None:
        """Missing stream or wrong duration: refused with the reason in the attempt history."""
        instance = sqlite_instance
        upload(instance, media_clips.small)
        runner = HttpRunner.register(instance)
        job = runner.accept(runner.request()[0]["uuid"])

        runner.success(job, {"videoFile": make(tmp_path / "out.mp4", **output)})
        with instance.admin() as c:
            attempts = c.get(f"/api/v1/runners/jobs/{job['uuid']}").json()["attempts"]

        assert ("refused", True) == (attempts[0]["outcome"], reason in attempts[0]["message"])

    def test_garbage_output_is_refused(
        self, sqlite_instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """Text posted as the video file is refused as unreadable, and nothing is stored."""
        instance = sqlite_instance
        video_uuid = upload(instance, media_clips.small).json()["video"]["uuid"]
        runner = HttpRunner.register(instance)
        job = runner.accept(runner.request()[0]["uuid"])

        runner.success(job, {"videoFile": media_clips.text})

        assert {"id": 1, "label": "Pending"} == jobs_of(instance)[0]["state"]
        assert 1 == len(video_of(instance, video_uuid)["files"])

    def test_hls_playlist_pointing_outside_its_file_is_refused(
        self, sqlite_instance: RunningInstance, media_clips: MediaClips, tmp_path: Path
    ) -> None:
        """A resolution playlist whose byte ranges overrun the MP4 it came with is refused."""
        instance = sqlite_instance
        upload(instance, media_clips.small)
        runner = HttpRunner.register(instance)
        optimize = runner.accept(runner.request()[0]["uuid"])
        runner.success(optimize, {"videoFile": media_clips.small})
        job = runner.accept(
            next(j["uuid"] for j in runner.request() if j["type"] == "vod-hls-transcoding")
        )
        files = runner.process(job, tmp_path / "work")
        playlist = files["resolutionPlaylistFile"]
        playlist.write_text(
            re.sub(r"#EXT-X-BYTERANGE:(\d+)@", "#EXT-X-BYTERANGE:99999999@", playlist.read_text())
        )

        runner.success(job, files)
        with instance.admin() as c:
            attempts = c.get(f"/api/v1/runners/jobs/{job['uuid']}").json()["attempts"]

        assert "refused" == attempts[0]["outcome"]
        assert "beyond" in attempts[0]["message"]


class TestRecovery:
    def test_janitor_deletes_orphans_only(
        self, sqlite_instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """Queued files no row refers to are deleted; a file a row refers to is kept."""
        instance = sqlite_instance
        set_config(instance, {"transcoding": {"enabled": False}})
        upload(instance, media_clips.small)
        media = instance.services.extras["media"]
        [kept] = web_files_on_disk(instance)
        orphan = media.storage.web_dir / "orphan-240.mp4"
        orphan.write_bytes(b"left by a crash")

        async def queue_and_sweep() -> int:
            async with media.videos.db.write() as conn:
                past = datetime.now(UTC) - timedelta(seconds=1)
                await media.videos.repo.add_garbage(
                    conn, [f"web-videos/{orphan.name}", f"web-videos/{kept}"], past
                )
            return int(await media.videos.sweep())

        swept = instance.call(queue_and_sweep)

        assert 2 == swept
        assert [kept] == web_files_on_disk(instance)

    def test_restart_keeps_videos_and_rewrites_master_playlists(
        self, tmp_path: Path, media_clips: MediaClips
    ) -> None:
        """A restarted instance serves the same video and rebuilds its master from the rows."""
        first = start_instance(tmp_path / "data")
        try:
            set_config(
                first,
                {"transcoding": {"webVideos": {"enabled": False}, "resolutions": {"144p": False}}},
            )
            video_uuid = upload(first, media_clips.small).json()["video"]["uuid"]
            HttpRunner.register(first).run_all(tmp_path / "work")
        finally:
            first.stop()
        master = (
            Path(first.settings.data_dir)
            / "streaming-playlists"
            / "hls"
            / video_uuid
            / "master.m3u8"
        )
        master.write_text("#EXTM3U\n")  # as if the process died mid-way through an update
        second = start_instance(tmp_path / "data")
        try:
            video = video_of(second, video_uuid)
            served = httpx.get(video["streamingPlaylists"][0]["playlistUrl"], timeout=10.0)
        finally:
            second.stop()

        assert {"id": 1, "label": "Published"} == video["state"]
        assert 1 == served.text.count("#EXT-X-STREAM-INF")
