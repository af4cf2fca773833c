"""End to end: a real instance on loopback, the `offload runner` CLI and daemon as subprocesses,
real ffmpeg on tiny clips, outputs fetched back from the instance and probed with PyAV."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from offload.domain.jobs import JobSpec, JobType
from offload.media import probe
from offload.runner.config import RunnerConfig, runner_paths
from tests.media import (
    make_clip,
    paced_ffmpeg,
    processes_mentioning,
    silent_ffmpeg,
    top_level_boxes,
    video_duration_s,
)
from tests.runner_home import RunnerHome
from tests.support import RunningInstance, start_instance, wait_until

pytestmark = pytest.mark.slow

PENDING, PROCESSING, COMPLETED, ERRORED = 1, 2, 3, 4


def _instance(tmp_path: Path, **overrides: Any) -> RunningInstance:
    values: dict[str, Any] = {"transcoding_resolutions": [240], "stalled_vod_s": 120.0}
    values.update(overrides)
    return start_instance(tmp_path / "instance", None, **values)


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[RunningInstance]:
    """An instance on SQLite making 240p renditions only (an upload ladder of 2 jobs)."""
    running = _instance(tmp_path)
    yield running
    running.stop()


def _upload(instance: RunningInstance, clip: Path, preview: Path | None = None) -> str:
    files: dict[str, Any] = {
        "videofile": (clip.name, clip.read_bytes(), "application/octet-stream")
    }
    if preview is not None:
        files["previewfile"] = (preview.name, preview.read_bytes(), "image/png")
    with instance.admin() as client:
        answer = client.post("/api/v1/videos/upload", data={"name": clip.stem}, files=files)
    assert 200 == answer.status_code, answer.text
    return str(answer.json()["video"]["uuid"])


def _jobs(instance: RunningInstance) -> list[dict[str, Any]]:
    with instance.admin() as client:
        return list(
            client.get("/api/v1/runners/jobs", params={"count": 100, "sort": "createdAt"}).json()[
                "data"
            ]
        )


def _job(instance: RunningInstance, job_uuid: str) -> dict[str, Any]:
    return next(j for j in _jobs(instance) if j["uuid"] == job_uuid)


def _video(instance: RunningInstance, video_uuid: str) -> dict[str, Any]:
    with instance.client() as client:
        return dict(client.get(f"/api/v1/videos/{video_uuid}").json())


def _download(url: str, target: Path) -> Path:
    with httpx.Client(timeout=30) as client:
        answer = client.get(url)
    assert 200 == answer.status_code, url
    target.write_bytes(answer.content)
    return target


def _running_job(instance: RunningInstance) -> dict[str, Any]:
    """Wait for a job in PROCESSING whose ffmpeg is running; return it."""

    def find() -> dict[str, Any] | None:
        for job in _jobs(instance):
            if job["state"]["id"] == PROCESSING and processes_mentioning(job["uuid"]):
                return job
        return None

    return wait_until(find, timeout_s=30, message="a job with ffmpeg running")


# ---- the happy path -------------------------------------------------------------------------


def test_registered_runner_completes_every_vod_job_type(tmp_path: Path, home: RunnerHome) -> None:
    """register (no daemon) → upload a clip and an audio file → `server --once` completes all jobs,
    and the outputs served by the instance have the right shape."""
    instance = _instance(tmp_path, transcoding_resolutions=[144, 240])
    try:
        registered = home.register(instance, "basement")
        assert 0 == registered.returncode, registered.stderr
        assert "basement" in home.cli("list-registered").stdout
        clip = make_clip(tmp_path / "clip.mp4", duration_s=2.0)
        audio = make_clip(tmp_path / "song.m4a", duration_s=2.0, video=False)
        video_uuid = _upload(instance, clip)
        audio_uuid = _upload(instance, audio)
        home.configure()

        run = home.cli("server", "--once")

        assert 0 == run.returncode, run.stdout + run.stderr
        jobs = _jobs(instance)
        assert {
            "vod-web-video-transcoding",
            "vod-hls-transcoding",
            "vod-audio-merge-transcoding",
        } == {j["type"] for j in jobs}
        assert [COMPLETED] * len(jobs) == [j["state"]["id"] for j in jobs], jobs
        details = _video(instance, video_uuid)
        web = {f["resolution"]["id"]: f for f in details["files"]}
        hls = {f["resolution"]["id"]: f for f in details["streamingPlaylists"][0]["files"]}
        assert ({144, 240}, {144, 240}) == (set(web), set(hls))
        for resolution, width in ((240, 320), (144, 192)):
            mp4 = _download(web[resolution]["fileUrl"], tmp_path / f"web-{resolution}.mp4")
            info = probe(mp4)
            assert ("h264", width, resolution, 25.0, "aac") == (
                info.video.codec,
                info.video.width,
                info.video.height,
                info.video.fps,
                info.audio.codec,
            )  # type: ignore[union-attr]
            assert abs(2.0 - (info.duration_s or 0)) <= 0.1
            boxes = top_level_boxes(mp4)
            assert boxes.index("moov") < boxes.index("mdat"), (
                f"{resolution}p is not faststart: {boxes}"
            )
            playlist = httpx.get(hls[resolution]["playlistUrl"], timeout=30).text
            fragmented = _download(hls[resolution]["fileUrl"], tmp_path / f"hls-{resolution}.mp4")
            assert (
                "#EXT-X-ENDLIST" in playlist
                and f'#EXT-X-MAP:URI="{fragmented.name}"'.replace(
                    fragmented.name, Path(hls[resolution]["fileUrl"]).name
                )
                in playlist
            )
            assert "moof" in top_level_boxes(fragmented)
            hls_info = probe(fragmented)
            assert ("h264", width, resolution, 25.0) == (
                hls_info.video.codec,
                hls_info.video.width,
                hls_info.video.height,
                hls_info.video.fps,
            )  # type: ignore[union-attr]
            assert abs(2.0 - video_duration_s(fragmented)) <= 0.1
        merged = _video(instance, audio_uuid)["files"][0]
        merged_info = probe(_download(merged["fileUrl"], tmp_path / "merged.mp4"))
        assert (True, True, 25.0) == (
            merged_info.has_video,
            merged_info.has_audio,
            merged_info.video.fps,
        )  # type: ignore[union-attr]
        assert abs(2.0 - (merged_info.duration_s or 0)) <= 0.1
    finally:
        instance.stop()


def test_without_jobs_claim_the_runner_falls_back_to_request_and_accept(
    tmp_path: Path, home: RunnerHome
) -> None:
    """Against an instance without Offload's `jobs/claim` (as PeerTube), the runner takes its
    jobs PeerTube's way and completes them all."""
    instance = _instance(tmp_path, runner_claim_enabled=False)
    try:
        assert 0 == home.register(instance, "old-school").returncode
        _upload(instance, make_clip(tmp_path / "clip.mp4"))
        home.configure()

        run = home.cli("server", "--once")

        assert 0 == run.returncode, run.stdout + run.stderr
        assert "has no jobs/claim" in run.stdout + run.stderr
        jobs = _jobs(instance)
        assert [COMPLETED] * len(jobs) == [j["state"]["id"] for j in jobs], jobs
    finally:
        instance.stop()


def test_register_reaches_a_running_daemon_and_a_second_daemon_is_refused(
    tmp_path: Path, instance: RunningInstance, home: RunnerHome
) -> None:
    """A daemon started with no registration picks up `register` over IPC and takes jobs;
    a second daemon with the same id refuses to start; graceful-shutdown stops an idle daemon."""
    home.configure()
    daemon = home.start()
    wait_until(
        lambda: runner_paths(environ=home.env).socket.exists(),
        timeout_s=30,
        message="daemon socket",
    )

    second = home.cli("server", timeout_s=60)
    registered = home.register(instance, "live-register")
    video_uuid = _upload(instance, make_clip(tmp_path / "clip.mp4"))

    assert (1, True) == (second.returncode, "already running" in second.stderr), second.stderr
    assert 0 == registered.returncode, registered.stderr
    assert "running daemon" in registered.stdout
    wait_until(
        lambda: (
            [COMPLETED, COMPLETED]
            == [j["state"]["id"] for j in _video(instance, video_uuid)["jobs"]]
        ),
        timeout_s=60,
        message="jobs completed",
    )
    assert "live-register" in home.cli("list-registered").stdout
    assert "Processing 0/2 jobs" in home.cli("list-jobs").stdout
    assert 0 == home.cli("graceful-shutdown").returncode
    assert 0 == daemon.wait(timeout=30), home.logs()


def test_concurrency_limit_is_honoured_and_filled(tmp_path: Path, home: RunnerHome) -> None:
    """With 2 slots and 2 jobs pending, both run at once (one pass fills every slot), never more."""
    concurrency = 2
    instance = _instance(tmp_path, transcoding_resolutions=[144, 240])
    try:
        assert 0 == home.register(instance, "slots").returncode
        home.configure(ffmpeg_path=paced_ffmpeg(tmp_path), concurrency=concurrency)
        _upload(instance, make_clip(tmp_path / "clip.mp4", duration_s=1.5))
        daemon = home.start("--once")
        most = 0
        deadline = time.monotonic() + 90
        while daemon.poll() is None and time.monotonic() < deadline:
            most = max(most, sum(1 for j in _jobs(instance) if j["state"]["id"] == PROCESSING))
            time.sleep(0.05)

        assert 0 == daemon.wait(timeout=10), home.logs()
        assert concurrency == most
        assert {COMPLETED} == {j["state"]["id"] for j in _jobs(instance)}
    finally:
        instance.stop()


# ---- failures and stops ---------------------------------------------------------------------


def test_kill_9_then_watchdog_requeues_and_another_runner_completes(
    tmp_path: Path, home: RunnerHome, second_home: RunnerHome
) -> None:
    """A runner killed mid-job loses the job to the watchdog; its ffmpeg dies with it; a second
    runner completes the job."""
    instance = _instance(tmp_path, stalled_vod_s=3.0, watchdog_interval_s=0.5)
    try:
        assert 0 == home.register(instance, "doomed").returncode
        assert 0 == second_home.register(instance, "rescuer").returncode
        home.configure(ffmpeg_path=paced_ffmpeg(tmp_path))
        second_home.configure()
        _upload(instance, make_clip(tmp_path / "clip.mp4", duration_s=4.0))
        doomed = home.start()
        job = _running_job(instance)

        doomed.send_signal(signal.SIGKILL)
        doomed.wait(timeout=10)

        wait_until(
            lambda: not processes_mentioning(job["uuid"]), timeout_s=5, message="orphan ffmpeg gone"
        )
        wait_until(
            lambda: _job(instance, job["uuid"])["state"]["id"] == PENDING,
            timeout_s=30,
            message="watchdog re-queue",
        )
        rescue = second_home.cli("server", "--once")
        assert 0 == rescue.returncode, rescue.stderr
        finished = _job(instance, job["uuid"])
        assert (COMPLETED, 0, "rescuer") == (
            finished["state"]["id"],
            finished["failures"],
            finished["runner"]["name"],
        )
    finally:
        instance.stop()


def test_sigterm_aborts_in_flight_jobs_and_cleans_up(
    tmp_path: Path, instance: RunningInstance, home: RunnerHome
) -> None:
    """SIGTERM: the job is aborted (PENDING again at once, not after the 2-minute watchdog),
    ffmpeg is killed, the runner exits 0 and leaves no temp files."""
    assert 0 == home.register(instance, "stopper").returncode
    home.configure(ffmpeg_path=paced_ffmpeg(tmp_path))
    _upload(instance, make_clip(tmp_path / "clip.mp4", duration_s=8.0))
    daemon = home.start()
    job = _running_job(instance)

    daemon.send_signal(signal.SIGTERM)

    assert 0 == daemon.wait(timeout=20), home.logs()
    assert (PENDING, 0) == (
        _job(instance, job["uuid"])["state"]["id"],
        _job(instance, job["uuid"])["failures"],
    )
    assert [] == processes_mentioning(job["uuid"])
    assert not home.work_dir.exists() or [] == list(home.work_dir.iterdir())
    assert "Runner stopped" in home.logs()


def test_graceful_shutdown_finishes_the_running_job_and_takes_no_more(
    tmp_path: Path, instance: RunningInstance, home: RunnerHome
) -> None:
    """graceful-shutdown during a job: it completes, its children stay PENDING, the daemon exits."""
    assert 0 == home.register(instance, "graceful").returncode
    home.configure(ffmpeg_path=paced_ffmpeg(tmp_path))
    _upload(instance, make_clip(tmp_path / "clip.mp4", duration_s=3.0))
    daemon = home.start()
    job = _running_job(instance)

    assert 0 == home.cli("graceful-shutdown").returncode

    assert 0 == daemon.wait(timeout=60), home.logs()
    states = {j["uuid"]: j["state"]["id"] for j in _jobs(instance)}
    assert COMPLETED == states.pop(job["uuid"])
    assert {PENDING} == set(states.values())


def test_cancelled_job_loses_its_ffmpeg_within_seconds(
    tmp_path: Path, instance: RunningInstance, home: RunnerHome
) -> None:
    """An admin cancel makes the next heartbeat answer 404; the runner kills that ffmpeg at once."""
    assert 0 == home.register(instance, "canceller").returncode
    home.configure(ffmpeg_path=paced_ffmpeg(tmp_path))
    _upload(instance, make_clip(tmp_path / "clip.mp4", duration_s=20.0, size="160x120"))
    daemon = home.start()
    job = _running_job(instance)

    with instance.admin() as client:
        assert 204 == client.post(f"/api/v1/runners/jobs/{job['uuid']}/cancel").status_code

    wait_until(
        lambda: not processes_mentioning(job["uuid"]),
        timeout_s=5,
        message="cancelled job's ffmpeg gone",
    )
    assert None is daemon.poll()
    wait_until(lambda: "no longer ours" in home.logs(), timeout_s=5, message="log line")


def test_pushed_revocation_stops_a_job_whose_next_update_is_an_hour_away(
    tmp_path: Path, instance: RunningInstance, home: RunnerHome
) -> None:
    """The instance pushes `job-revoked` on cancel: the runner checks at once (the 404 of that
    update is what stops it) instead of at its next progress update."""
    assert 0 == home.register(instance, "pushed").returncode
    home.configure(ffmpeg_path=silent_ffmpeg(tmp_path), progressIntervalSeconds=3600)
    _upload(instance, make_clip(tmp_path / "clip.mp4", size="160x120"))
    daemon = home.start()
    job = _running_job(instance)

    with instance.admin() as client:
        assert 204 == client.post(f"/api/v1/runners/jobs/{job['uuid']}/cancel").status_code

    wait_until(
        lambda: not processes_mentioning(job["uuid"]),
        timeout_s=5,
        message="revoked job's ffmpeg gone",
    )
    assert None is daemon.poll()
    # The job's task logs its end once the killed ffmpeg is reaped, a moment after it is gone.
    wait_until(lambda: "no longer ours" in home.logs(), timeout_s=5, message="log line")
    assert f"says job {job['uuid']} was taken back (cancelled)" in home.logs()


def test_corrupt_input_errors_with_the_reason_and_is_errored_after_five_tries(
    tmp_path: Path, instance: RunningInstance, home: RunnerHome
) -> None:
    """A source that turned to garbage: each attempt reports libav's reason; the 5th errors the job."""
    assert 0 == home.register(instance, "unlucky").returncode
    home.configure()
    video_uuid = _upload(instance, make_clip(tmp_path / "clip.mp4"))
    stored = [p for p in (instance.settings.data_dir / "web-videos").iterdir() if p.is_file()]
    assert stored
    for path in stored:
        path.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 40)

    run = home.cli("server", "--once")

    assert 0 == run.returncode, run.stderr
    optimize = next(
        j for j in _video(instance, video_uuid)["jobs"] if j["type"] == "vod-web-video-transcoding"
    )
    assert (ERRORED, 5) == (optimize["state"]["id"], optimize["failures"])
    assert "Invalid data found when processing input" in optimize["error"]


def test_failed_jobs_in_a_row_pause_the_runner_for_longer_each_time(
    tmp_path: Path, instance: RunningInstance, home: RunnerHome
) -> None:
    """A job failing at once, five tries: after the 3rd and 4th failure in a row the runner waits 0.5 s, then 1 s, and says so."""
    pause_s = 0.5
    assert 0 == home.register(instance, "jinxed").returncode
    # One slot: no claim is in flight while the job fails, which could take it back before
    # the pause starts.
    home.configure(failurePauseSeconds=pause_s, concurrency=1)
    # No input at all: the runner fails it before any download or ffmpeg.
    spec = JobSpec(
        JobType.VOD_WEB_VIDEO,
        {"input": {}, "output": {"resolution": 240, "fps": 25}},
        {"videoUUID": str(uuid.uuid4())},
        priority=100,
    )
    [job] = instance.call(instance.services.jobs.enqueue, [spec])

    run = home.cli("server", "--once")

    assert 0 == run.returncode, run.stderr
    with instance.admin() as client:
        details = client.get(f"/api/v1/runners/jobs/{job.uuid}").json()
    assert (ERRORED, 5) == (details["state"]["id"], details["failures"])
    attempts = details["attempts"]
    # From try to try: the pause starts after its failed try started, the next try after the pause.
    gaps = [
        _seconds(attempts[n + 1]["startedAt"]) - _seconds(attempts[n]["startedAt"])
        for n in range(4)
    ]
    assert gaps[2] >= pause_s and gaps[3] >= 2 * pause_s, gaps
    assert "3 jobs in a row failed on this runner: taking no job for 0.5 s" in run.stderr
    assert "4 jobs in a row failed on this runner: taking no job for 1.0 s" in run.stderr


def _seconds(stamp: str) -> float:
    return datetime.fromisoformat(stamp).timestamp()


def test_unknown_runner_token_is_loud_and_keeps_the_registration(
    tmp_path: Path, instance: RunningInstance, home: RunnerHome
) -> None:
    """The official runner silently deletes a registration the instance does not know; we log
    it loudly and keep it (a transient instance fault must not cost the token)."""
    assert 0 == home.register(instance, "forgotten").returncode
    home.configure()
    with instance.admin() as client:
        runner_id = client.get("/api/v1/runners").json()["data"][0]["id"]
        assert 204 == client.delete(f"/api/v1/runners/{runner_id}").status_code

    run = home.cli("server", "--once")

    assert 0 == run.returncode, run.stderr
    assert "!!!" in run.stderr and "KEPT" in run.stderr
    assert ["forgotten"] == [
        r.runner_name
        for r in RunnerConfig.load(runner_paths(environ=home.env).config_file).registered_instances
    ]
