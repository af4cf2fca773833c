"""Video studio, instance side: PeerTube's edit route and its checks, the one job an edit makes,
its task files served to the runner holding it, and what becomes of the video when the edit
fails, is cancelled or succeeds (the runner here posts files made by the test with ffmpeg; the
real processing step is driven end to end in tests/acceptance/test_studio_e2e.py)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import httpx
import pytest
from imageio_ffmpeg import get_ffmpeg_exe

from tests.clips import HttpRunner, jobs_of, set_config, upload_video
from tests.media import make_clip
from tests.support import RunningInstance, wait_until

STUDIO = "video-studio-transcoding"
PENDING, COMPLETED, ERRORED, CANCELLED = 1, 3, 4, 6
PUBLISHED, TO_TRANSCODE, TO_EDIT = 1, 2, 9


@pytest.fixture
def published(instance_factory: Callable[..., RunningInstance], tmp_path: Path) -> Any:
    """An instance without transcoding (uploads are published at once) and a 4 s video on it."""
    instance = instance_factory(transcoding_enabled=False, storyboards_enabled=False)
    return instance, upload_video(instance, make_clip(tmp_path / "four.mp4", duration_s=4.0))


def edit(
    instance: RunningInstance,
    video: str,
    tasks: list[dict[str, Any]],
    files: dict[int, Path] | None = None,
) -> httpx.Response:
    """PeerTube's multipart edit body: `tasks[i][name]`, `tasks[i][options][k]`, file parts."""
    data: dict[str, str] = {}
    for i, task in enumerate(tasks):
        data[f"tasks[{i}][name]"] = task["name"]
        for key, value in task.get("options", {}).items():
            if key == "segments":
                for j, segment in enumerate(value):
                    for bound, seconds in segment.items():
                        data[f"tasks[{i}][options][segments][{j}][{bound}]"] = str(seconds)
            else:
                data[f"tasks[{i}][options][{key}]"] = str(value)
    parts = {
        f"tasks[{i}][options][file]": (path.name, path.read_bytes())
        for i, path in (files or {}).items()
    }
    with instance.admin() as c:
        if not parts:
            # Tasks without files, as a JSON body (PeerTube takes both).
            return c.post(f"/api/v1/videos/{video}/studio/edit", json={"tasks": tasks})
        return c.post(f"/api/v1/videos/{video}/studio/edit", data=data, files=parts)


def video_of(instance: RunningInstance, video: str) -> dict[str, Any]:
    with instance.client() as c:
        r = c.get(f"/api/v1/videos/{video}")
    assert 200 == r.status_code, r.text
    return dict(r.json())


def studio_jobs(instance: RunningInstance) -> list[dict[str, Any]]:
    return [j for j in jobs_of(instance) if j["type"] == STUDIO]


def studio_files(instance: RunningInstance) -> list[str]:
    root = instance.settings.data_dir / "studio"
    return sorted(p.name for p in root.rglob("*") if p.is_file()) if root.exists() else []


def picture(path: Path, size: str = "64x32") -> Path:
    subprocess.run(
        [get_ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i", f"color=c=red:s={size}"]
        + ["-frames:v", "1", str(path)],
        check=True,
        timeout=60,
    )
    return path


def clip_lasting(path: Path, seconds: float, size: str = "320x240") -> Path:
    return make_clip(path, duration_s=seconds, size=size)


# ---- refused edits: 4xx, nothing stored, nothing queued --------------------------------------


@pytest.mark.parametrize(
    ("tasks", "status", "detail"),
    [
        ([{"name": "toto"}], 400, "Task toto is invalid"),
        ([{"name": "cut", "options": {"start": 3, "end": 1}}], 400, "Task cut is invalid"),
        ([{"name": "cut", "options": {"start": 0}}], 400, "Task cut is invalid"),
        ([{"name": "cut", "options": {"start": "a", "end": 2}}], 400, "Task cut is invalid"),
        ([{"name": "cut", "options": {"start": 6}}], 400, "the video lasts 4.00 s"),
        ([{"name": "cut", "options": {"start": 1, "end": 9}}], 400, "the video lasts 4.00 s"),
        ([{"name": "add-intro"}], 400, "Task add-intro is invalid: a file is required"),
        (
            [{"name": "remove-segments", "options": {"segments": [{"start": 0, "end": 9}]}}],
            400,
            "nothing would be left",
        ),
        ([], 400, "Should have a valid array of tasks"),
        ([{"name": "cut", "options": {"end": 1}}] * 11, 400, "Should have a valid array of tasks"),
    ],
)
def test_invalid_tasks_are_refused_and_nothing_is_queued(
    published: Any, tasks: list[dict[str, Any]], status: int, detail: str
) -> None:
    instance, video = published
    r = edit(instance, video, tasks)

    assert (status, True) == (r.status_code, detail in r.json()["detail"]), r.text
    assert status == r.json()["status"]
    assert ([], PUBLISHED, []) == (
        studio_jobs(instance),
        video_of(instance, video)["state"]["id"],
        studio_files(instance),
    )


def test_bad_task_files_are_refused(published: Any, tmp_path: Path) -> None:
    """A corrupt intro, an intro without a picture, a watermark that is not an image: 400 with
    the reason, and none of the files is kept."""
    instance, video = published
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 100)
    song = make_clip(tmp_path / "song.m4a", duration_s=1.0, video=False)
    movie = make_clip(tmp_path / "movie.mp4", duration_s=1.0)

    answers = {
        "corrupt intro": edit(instance, video, [{"name": "add-intro"}], {0: corrupt}),
        "audio outro": edit(instance, video, [{"name": "add-outro"}], {0: song}),
        "video watermark": edit(instance, video, [{"name": "add-watermark"}], {0: movie}),
        "file on a cut": edit(
            instance, video, [{"name": "cut", "options": {"end": 2}}], {0: movie}
        ),
    }

    assert {
        "corrupt intro": (400, "Task add-intro is invalid: the file is not a video"),
        "audio outro": (
            400,
            "Task add-outro is invalid: input file does not contain a video stream",
        ),
        "video watermark": (400, "Task add-watermark is invalid: the file is not an image"),
        "file on a cut": (400, "Unexpected file field tasks.0.options.file"),
    } == {k: (r.status_code, r.json()["detail"]) for k, r in answers.items()}
    assert ([], PUBLISHED, []) == (
        studio_jobs(instance),
        video_of(instance, video)["state"]["id"],
        studio_files(instance),
    )
    leftovers = list((instance.settings.data_dir / "tmp" / "uploads").iterdir())
    assert [] == leftovers


def test_studio_off_unknown_video_and_second_edit(published: Any) -> None:
    """Studio disabled → 400; an unknown video → 404; a second edit while the first waits → 409
    with PeerTube's message; a bad id → 400; no token → 401."""
    instance, video = published
    cut = [{"name": "cut", "options": {"end": 2}}]
    set_config(instance, {"videoStudio": {"enabled": False}})
    disabled = edit(instance, video, cut)
    set_config(instance, {"videoStudio": {"enabled": True}})
    unknown = edit(instance, "6f1d3f5e-8a8b-4c1e-9d5a-0d5f1e2b3c4d", cut)
    first = edit(instance, video, cut)
    second = edit(instance, video, cut)
    bad_id = edit(instance, "toto", cut)
    with instance.client() as c:
        anonymous = c.post(f"/api/v1/videos/{video}/studio/edit", data={"tasks[0][name]": "cut"})

    assert {
        "disabled": (400, "Video studio is disabled on this instance"),
        "unknown": (404, None),
        "first": (204, None),
        "second": (409, "Cannot edit video that is already waiting for transcoding/edition"),
        "bad id": (400, None),
        "anonymous": (401, None),
    } == {
        "disabled": (disabled.status_code, disabled.json()["detail"]),
        "unknown": (unknown.status_code, None),
        "first": (first.status_code, None),
        "second": (second.status_code, second.json()["detail"]),
        "bad id": (bad_id.status_code, None),
        "anonymous": (anonymous.status_code, None),
    }
    assert 1 == len(studio_jobs(instance))


def test_a_video_still_transcoding_cannot_be_edited(
    instance_factory: Callable[..., RunningInstance], tmp_path: Path
) -> None:
    instance = instance_factory(transcoding_resolutions=[240])
    video = upload_video(instance, make_clip(tmp_path / "one.mp4"))

    refused = edit(instance, video, [{"name": "cut", "options": {"end": 1}}])

    assert (409, TO_TRANSCODE) == (refused.status_code, video_of(instance, video)["state"]["id"])


# ---- the job and its task files ---------------------------------------------------------------


def test_an_edit_makes_one_job_whose_task_files_only_its_runner_reads(
    published: Any, tmp_path: Path
) -> None:
    """One pending job (priority 150 + N), PeerTube's payload with the watermark geometry and
    task-file URLs in the user's order; each URL serves exactly the uploaded file to the runner
    holding the job; a malformed name or a file of no task → 400; another runner → 404."""
    instance, video = published
    intro = clip_lasting(tmp_path / "intro.mp4", 1.0, size="160x120")
    mark = picture(tmp_path / "mark.png")
    r = edit(
        instance,
        video,
        [
            {"name": "add-intro"},
            {"name": "cut", "options": {"start": 1, "end": 3}},
            {"name": "add-watermark"},
        ],
        {0: intro, 2: mark},
    )
    assert 204 == r.status_code, r.text
    [job] = studio_jobs(instance)
    runner, other = HttpRunner.register(instance), HttpRunner.register(instance, "other")
    offered = wait_until(runner.request, timeout_s=30, message="studio job offered")
    held = runner.accept(offered[0]["uuid"])
    tasks = held["payload"]["tasks"]
    intro_url, mark_url = tasks[0]["options"]["file"], tasks[2]["options"]["file"]
    base = intro_url.rsplit("/", 1)[0]

    # 150 + N, N = the uploader's videos of the past week (this one).
    assert (PENDING, 151, TO_EDIT) == (
        job["state"]["id"],
        job["priority"],
        video_of(instance, video)["state"]["id"],
    )
    assert [
        {"name": "add-intro", "options": {"file": intro_url}},
        {"name": "cut", "options": {"start": 1, "end": 3}},
        {
            "name": "add-watermark",
            "options": {
                "file": mark_url,
                "watermarkSizeRatio": 0.1,
                "horizontalMarginRatio": 0.05,
                "verticalMarginRatio": 0.05,
            },
        },
    ] == tasks
    assert held["payload"]["input"]["videoFileUrl"].endswith(f"/videos/{video}/max-quality")
    assert intro_url.startswith(f"{instance.url}/api/v1/runners/jobs/{held['uuid']}/files/videos/")
    assert (200, intro.read_bytes()) == (
        runner.download(intro_url, held).status_code,
        runner.download(intro_url, held).content,
    )
    assert mark.read_bytes() == runner.download(mark_url, held).content
    stranger = dict(held, jobToken="x" * 10)
    assert {
        "toto": 400,
        "not of the job": 400,
        "traversal": 404,
        "other runner": 404,
        "bad job token": 404,
    } == {
        "toto": runner.download(f"{base}/toto", held).status_code,
        "not of the job": runner.download(f"{base}/0a1b-2c.mp4", held).status_code,
        "traversal": runner.download(f"{base}/..%2F..%2Fetc%2Fpasswd", held).status_code,
        "other runner": other.download(intro_url, held).status_code,
        "bad job token": runner.download(intro_url, stranger).status_code,
    }


def test_cancelling_an_edit_leaves_the_video_as_it_was(published: Any, tmp_path: Path) -> None:
    """STU: cancel → the video is PUBLISHED again with its files, and the task files go."""
    instance, video = published
    before = video_of(instance, video)
    r = edit(instance, video, [{"name": "add-outro"}], {0: clip_lasting(tmp_path / "o.mp4", 1.0)})
    assert 204 == r.status_code, r.text
    [job] = studio_jobs(instance)
    assert 1 == len(studio_files(instance))

    with instance.admin() as c:
        assert 204 == c.post(f"/api/v1/runners/jobs/{job['uuid']}/cancel").status_code

    wait_until(
        lambda: video_of(instance, video)["state"]["id"] == PUBLISHED,
        timeout_s=30,
        message="video published again",
    )
    wait_until(lambda: studio_files(instance) == [], timeout_s=30, message="task files removed")
    after = video_of(instance, video)
    assert (before["duration"], before["files"]) == (after["duration"], after["files"])


def _fail(runner: HttpRunner, job: dict[str, Any], message: str) -> None:
    with runner.instance.client() as c:
        r = c.post(
            f"/api/v1/runners/jobs/{job['uuid']}/error",
            json={"runnerToken": runner.token, "jobToken": job["jobToken"], "message": message},
        )
    assert 204 == r.status_code, r.text


def test_an_edit_that_keeps_failing_errors_and_the_video_stays(
    instance_factory: Callable[..., RunningInstance], tmp_path: Path
) -> None:
    """STU: five error rounds → the job is ERRORED, the video PUBLISHED with its files and the
    reason, and the task files are gone."""
    instance = instance_factory(
        transcoding_enabled=False, storyboards_enabled=False, retry_backoff_s=0.0
    )
    clip = make_clip(tmp_path / "four.mp4", duration_s=4.0)
    video = upload_video(instance, clip)
    before = video_of(instance, video)
    r = edit(instance, video, [{"name": "add-intro"}], {0: clip_lasting(tmp_path / "i.mp4", 1.0)})
    assert 204 == r.status_code, r.text
    runner = HttpRunner.register(instance)

    for round_ in range(5):
        offered = wait_until(runner.request, timeout_s=30, message=f"studio offered ({round_})")
        _fail(runner, runner.accept(offered[0]["uuid"]), "ffmpeg exploded")

    [job] = studio_jobs(instance)
    wait_until(
        lambda: video_of(instance, video)["state"]["id"] == PUBLISHED,
        timeout_s=30,
        message="video back to published",
    )
    wait_until(lambda: studio_files(instance) == [], timeout_s=30, message="task files removed")
    after = video_of(instance, video)
    assert (ERRORED, before["files"], "The studio edit failed: ffmpeg exploded") == (
        job["state"]["id"],
        after["files"],
        after["transcodingError"],
    )


def test_an_output_of_the_wrong_duration_is_refused_then_a_good_one_replaces_the_video(
    published: Any, tmp_path: Path
) -> None:
    """A cut to 2 s answered with a 4 s file is refused (counted, offered again); a 2 s file is
    taken: with transcoding off it is the video at once (STU: duration 2), the old file goes and
    the task files too."""
    instance, video = published
    before = video_of(instance, video)
    r = edit(instance, video, [{"name": "cut", "options": {"start": 1, "end": 3}}])
    assert 204 == r.status_code, r.text
    runner = HttpRunner.register(instance)

    job = runner.accept(wait_until(runner.request, timeout_s=30, message="offered")[0]["uuid"])
    wrong = runner.success(job, {"videoFile": clip_lasting(tmp_path / "wrong.mp4", 4.0)})
    assert 204 == wrong.status_code, wrong.text
    refused = wait_until(
        lambda: next(
            (j for j in studio_jobs(instance) if j["state"]["id"] == PENDING and j["failures"]),
            None,
        ),
        timeout_s=30,
        message="refused output re-queued",
    )
    job = runner.accept(wait_until(runner.request, timeout_s=30, message="again")[0]["uuid"])
    good = runner.success(job, {"videoFile": clip_lasting(tmp_path / "good.mp4", 2.0)})
    assert 204 == good.status_code, good.text

    wait_until(
        lambda: video_of(instance, video)["duration"] == 2,
        timeout_s=30,
        message="the edited video in place",
    )
    after = video_of(instance, video)
    [web] = after["files"]
    r = httpx.get(web["fileUrl"], timeout=30.0)
    target = tmp_path / "served.mp4"
    target.write_bytes(r.content)
    with av.open(str(target)) as container:
        served_s = float(container.duration or 0) / av.time_base
    with instance.admin() as c:
        attempts = c.get(f"/api/v1/runners/jobs/{refused['uuid']}").json()["attempts"]
    assert 1 == refused["failures"]
    assert [
        ("refused", "Output refused: the edited video lasts 4.00 s, its tasks give 2.00 s"),
        ("completed", None),
    ] == [(a["outcome"], a["message"]) for a in attempts]
    assert (PUBLISHED, 200) == (after["state"]["id"], r.status_code)
    assert abs(served_s - 2.0) < 0.2
    assert web["fileUrl"] != before["files"][0]["fileUrl"]
    assert httpx.get(before["files"][0]["fileUrl"], timeout=30.0).status_code in (200, 404)
    assert [] == studio_files(instance)


def test_five_wrong_outputs_error_the_edit_with_the_reason(
    instance_factory: Callable[..., RunningInstance], tmp_path: Path
) -> None:
    """Refused five times (a 4 s file for a 2 s cut): the job is ERRORED with the refusal as its
    error, and the video is published again on its own files with that reason."""
    instance = instance_factory(
        transcoding_enabled=False, storyboards_enabled=False, retry_backoff_s=0.0
    )
    clip = make_clip(tmp_path / "four.mp4", duration_s=4.0)
    video = upload_video(instance, clip)
    before = video_of(instance, video)
    assert 204 == edit(instance, video, [{"name": "cut", "options": {"end": 2}}]).status_code
    runner = HttpRunner.register(instance)
    wrong = clip_lasting(tmp_path / "wrong.mp4", 4.0)

    for round_ in range(5):
        offered = wait_until(runner.request, timeout_s=30, message=f"offered ({round_})")
        r = runner.success(runner.accept(offered[0]["uuid"]), {"videoFile": wrong})
        assert 204 == r.status_code, r.text

    [job] = wait_until(
        lambda: [j for j in studio_jobs(instance) if j["state"]["id"] == ERRORED],
        timeout_s=30,
        message="edit errored",
    )
    after = wait_until(
        lambda: (v := video_of(instance, video))["state"]["id"] == PUBLISHED and v,
        timeout_s=30,
        message="video published again",
    )
    assert "the edited video lasts 4.00 s, its tasks give 2.00 s" in job["error"]
    assert after["transcodingError"].startswith("The studio edit failed: Output refused")
    assert (before["files"], 4) == (after["files"], after["duration"])
