"""Studio end to end: upload → ladder → studio edits of every kind (one each, then cut + intro +
watermark together) → new ladder → storyboard, run by the `offload runner` daemon (a subprocess)
and by the instance's local workers, on SQLite and PostgreSQL; outputs fetched back from the
instance and probed with PyAV."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from imageio_ffmpeg import get_ffmpeg_exe

from tests.clips import jobs_of, upload_video
from tests.integration.test_studio_api import edit, video_of
from tests.media import make_clip, paced_ffmpeg, processes_mentioning
from tests.runner_home import RunnerHome
from tests.support import RunningInstance, start_instance, wait_until

pytestmark = pytest.mark.slow

PUBLISHED, TO_EDIT = 1, 9
STUDIO = "video-studio-transcoding"
STORYBOARD = "generate-video-storyboard"
#: The edited video's duration against what the tasks say: re-encodes end on a frame.
TOLERANCE_S = 0.3


def _published(
    instance: RunningInstance, video: str, storyboards: int, timeout_s: float = 120
) -> dict[str, Any]:
    """The video once published with every job done, its storyboard jobs included (they are
    planned just after publication)."""
    return wait_until(
        lambda: (
            (v := video_of(instance, video))["state"]["id"] == PUBLISHED
            and not any(j["state"]["id"] in (1, 2, 5, 9) for j in v["jobs"])
            and sum(j["type"] == STORYBOARD for j in v["jobs"]) == storyboards
            and v
        ),
        timeout_s=timeout_s,
        message=f"video published with every job done and {storyboards} storyboard job(s)",
    )


def _probe(url: str, target: Path) -> dict[str, Any]:
    r = httpx.get(url, timeout=60.0)
    assert 200 == r.status_code, url
    target.write_bytes(r.content)
    with av.open(str(target)) as container:
        video = container.streams.video[0]
        return {
            "duration": float(container.duration or 0) / av.time_base,
            "size": (video.codec_context.width, video.codec_context.height),
            "audio": bool(container.streams.audio),
        }


def _top_right_red(url: str, target: Path) -> float:
    """How red the top-right corner of the first frame is (0..1): the watermark is a red
    square a tenth of the height, a twentieth of it from the top and right edges."""
    r = httpx.get(url, timeout=60.0)
    target.write_bytes(r.content)
    with av.open(str(target)) as container:
        frame = next(container.decode(video=0)).to_ndarray(format="rgb24")
    height, width = frame.shape[:2]
    side, margin = height // 10, height // 20
    box = frame[margin + 2 : margin + side - 2, width - margin - side + 2 : width - margin - 2]
    red, green, blue = (float(box[..., i].mean()) / 255 for i in range(3))
    return red - (green + blue) / 2


def _red_square(path: Path) -> Path:
    subprocess.run(
        [get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", "color=c=red:s=64x64"]
        + ["-frames:v", "1", str(path)],
        check=True,
        timeout=60,
    )
    return path


EDITS: list[tuple[str, list[dict[str, Any]], tuple[str, ...], float]] = [
    # (label, tasks, files by task, expected duration of a 5 s video)
    ("cut", [{"name": "cut", "options": {"start": 1, "end": 4}}], (), 3.0),
    ("intro", [{"name": "add-intro"}], ("intro",), 6.0),
    ("outro", [{"name": "add-outro"}], ("intro",), 6.0),
    ("watermark", [{"name": "add-watermark"}], ("mark",), 5.0),
    (
        "remove-segments",
        [{"name": "remove-segments", "options": {"segments": [{"start": 1, "end": 2}]}}],
        (),
        4.0,
    ),
    (
        "cut+intro+watermark",
        [
            {"name": "cut", "options": {"start": 1, "end": 4}},
            {"name": "add-intro"},
            {"name": "add-watermark"},
        ],
        ("", "intro", "mark"),
        4.0,
    ),
]


def _run_edits(instance: RunningInstance, tmp_path: Path, edits: list[Any]) -> None:
    """Each edit on a fresh 5 s upload: the edited video, its new ladder and its storyboard."""
    intro = make_clip(tmp_path / "intro.mp4", duration_s=1.0, size="160x120", audio=False)
    mark = _red_square(tmp_path / "mark.png")
    inputs = {"intro": intro, "mark": mark}
    for label, tasks, file_names, duration in edits:
        video = upload_video(instance, make_clip(tmp_path / f"upload-{label}.mp4", duration_s=5.0))
        before = _published(instance, video, storyboards=1)
        files = {i: inputs[name] for i, name in enumerate(file_names) if name}
        r = edit(instance, video, tasks, files)
        assert 204 == r.status_code, (label, r.text)
        # One storyboard for the upload, one more for the edited video.
        after = _published(instance, video, storyboards=2)

        [web] = after["files"]
        probed = _probe(web["fileUrl"], tmp_path / f"{label}-out.mp4")
        studio = [j for j in after["jobs"] if j["type"] == STUDIO]
        boards = [j for j in after["jobs"] if j["type"] == STORYBOARD]
        assert (label, [3], None) == (
            label,
            [j["state"]["id"] for j in studio],
            after["transcodingError"],
        )
        assert abs(probed["duration"] - duration) <= TOLERANCE_S, (label, probed)
        assert (label, (320, 240), True) == (label, probed["size"], probed["audio"])
        assert abs(after["duration"] - round(duration)) <= 1, (label, after["duration"])
        assert web["fileUrl"] != before["files"][0]["fileUrl"]
        assert (label, {3}) == (label, {j["state"]["id"] for j in boards})
        if "watermark" in label:
            assert _top_right_red(web["fileUrl"], tmp_path / f"{label}-frame.mp4") > 0.4, label
        else:
            assert _top_right_red(web["fileUrl"], tmp_path / f"{label}-frame.mp4") < 0.2, label


@pytest.fixture
def started(home: RunnerHome) -> Iterator[RunnerHome]:
    yield home
    home.stop_all()


def test_every_edit_through_the_offload_runner(
    instance_factory: Callable[..., RunningInstance], tmp_path: Path, started: RunnerHome
) -> None:
    instance = instance_factory(transcoding_resolutions=[240], transcoding_hls=False)
    started.register(instance, "studio-box")
    started.configure()
    started.start()

    _run_edits(instance, tmp_path, EDITS)

    studio_runs = [j for j in jobs_of(instance) if j["type"] == STUDIO]
    assert all(j["runner"] and j["runner"]["name"] == "studio-box" for j in studio_runs)


def test_every_edit_through_the_local_workers(
    instance_factory: Callable[..., RunningInstance], tmp_path: Path
) -> None:
    instance = instance_factory(
        transcoding_resolutions=[240],
        transcoding_hls=False,
        remote_vod=False,
        remote_studio=False,
        remote_storyboard=False,
    )

    _run_edits(instance, tmp_path, EDITS)

    assert all(j["runner"] is None for j in jobs_of(instance) if j["type"] == STUDIO)


# ---- faults: a runner lost mid-edit, an edit cancelled mid-run ------------------------------


def _studio_job(instance: RunningInstance, state: int) -> dict[str, Any]:
    return wait_until(
        lambda: next(
            (j for j in jobs_of(instance) if j["type"] == STUDIO and j["state"]["id"] == state),
            None,
        ),
        timeout_s=60,
        message=f"studio job in state {state}",
    )


@pytest.fixture
def quiet_instance(tmp_path: Path) -> Iterator[RunningInstance]:
    """SQLite, no ladder, no storyboard, a 3 s studio stall limit: the edit alone."""
    instance = start_instance(
        tmp_path / "instance",
        None,
        transcoding_enabled=False,
        storyboards_enabled=False,
        stalled_studio_s=3.0,
        watchdog_interval_s=0.5,
    )
    yield instance
    instance.stop()


def test_a_runner_lost_mid_edit_loses_it_to_the_watchdog(
    quiet_instance: RunningInstance, tmp_path: Path, home: RunnerHome, second_home: RunnerHome
) -> None:
    """kill -9 of the runner mid-edit: its ffmpeg dies with it, the watchdog puts the edit back
    after the studio stall limit (not counted as a failure), another runner completes it."""
    instance = quiet_instance
    assert 0 == home.register(instance, "doomed").returncode
    assert 0 == second_home.register(instance, "rescuer").returncode
    home.configure(ffmpeg_path=paced_ffmpeg(tmp_path))
    second_home.configure()
    video = upload_video(instance, make_clip(tmp_path / "eight.mp4", duration_s=8.0))
    assert (
        204
        == edit(instance, video, [{"name": "cut", "options": {"start": 1, "end": 6}}]).status_code
    )
    doomed = home.start()
    job = _studio_job(instance, 2)

    doomed.send_signal(signal.SIGKILL)
    doomed.wait(timeout=10)

    wait_until(
        lambda: not processes_mentioning(job["uuid"]), timeout_s=5, message="orphan ffmpeg gone"
    )
    requeued = _studio_job(instance, 1)
    assert (TO_EDIT, 0) == (video_of(instance, video)["state"]["id"], requeued["failures"])
    rescue = second_home.cli("server", "--once")
    assert 0 == rescue.returncode, rescue.stderr
    finished = wait_until(
        lambda: (v := video_of(instance, video))["state"]["id"] == PUBLISHED and v,
        timeout_s=30,
        message="edited video published",
    )
    assert 5 == finished["duration"]
    assert (
        "rescuer"
        == next(j for j in jobs_of(instance) if j["uuid"] == job["uuid"])["runner"]["name"]
    )


def test_cancelling_an_edit_stops_the_runners_ffmpeg_and_keeps_the_video(
    quiet_instance: RunningInstance, tmp_path: Path, home: RunnerHome
) -> None:
    """An admin cancel pushes `job-revoked`: the runner's ffmpeg is gone within seconds, the
    video is published again on its own files, nothing of the edit is left."""
    instance = quiet_instance
    assert 0 == home.register(instance, "editor").returncode
    home.configure(ffmpeg_path=paced_ffmpeg(tmp_path))
    video = upload_video(
        instance, make_clip(tmp_path / "twenty.mp4", duration_s=20.0, size="160x120")
    )
    before = video_of(instance, video)
    assert (
        204
        == edit(instance, video, [{"name": "cut", "options": {"start": 1, "end": 19}}]).status_code
    )
    daemon = home.start()
    job = _studio_job(instance, 2)

    with instance.admin() as client:
        assert 204 == client.post(f"/api/v1/runners/jobs/{job['uuid']}/cancel").status_code

    wait_until(
        lambda: not processes_mentioning(job["uuid"]),
        timeout_s=5,
        message="cancelled edit's ffmpeg gone",
    )
    after = wait_until(
        lambda: (v := video_of(instance, video))["state"]["id"] == PUBLISHED and v,
        timeout_s=10,
        message="video published again",
    )
    assert None is daemon.poll()
    assert (before["duration"], before["files"]) == (after["duration"], after["files"])
    assert "The studio edit was cancelled" == after["transcodingError"]
