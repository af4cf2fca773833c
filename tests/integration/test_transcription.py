"""Automatic captions end to end: a `video-transcription` job per upload with audio, made by
the local workers or by a runner (the `offload runner` CLI with faster-whisper and the bundled
`tiny.en` model, on espeak-ng speech), checked (WebVTT, cues inside the video), stored as the
caption of the detected language and served as PeerTube does."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clips import HttpRunner, MediaClips, jobs_of, upload_video
from tests.runner_home import RunnerHome
from tests.speech import SPOKEN_WORDS, speech_clip
from tests.support import RunningInstance, wait_until

TRANSCRIPTION = "video-transcription"
PENDING, PROCESSING, COMPLETED, ERRORED = 1, 2, 3, 4
#: Transcription on, nothing else in the way: no ladder, no storyboard.
ON = {"transcription_enabled": True, "transcoding_enabled": False, "storyboards_enabled": False}
GOOD_VTT = "WEBVTT\n\n00:00:00.000 --> 00:00:00.900\nA tone.\n"


def _transcription_jobs(instance: RunningInstance) -> list[dict[str, Any]]:
    return [j for j in jobs_of(instance) if j["type"] == TRANSCRIPTION]


def _settled(instance: RunningInstance) -> dict[str, Any] | None:
    jobs = _transcription_jobs(instance)
    return jobs[-1] if jobs and jobs[-1]["state"]["id"] in (COMPLETED, ERRORED) else None


def _captions(instance: RunningInstance, video_uuid: str) -> dict[str, Any]:
    with instance.client() as c:
        r = c.get(f"/api/v1/videos/{video_uuid}/captions")
    assert 200 == r.status_code, r.text
    return dict(r.json())


def _caption_text(instance: RunningInstance, caption: dict[str, Any]) -> str:
    r = httpx.get(instance.url + caption["captionPath"], timeout=30.0)
    assert (200, "text/vtt") == (r.status_code, r.headers["content-type"].split(";")[0])
    assert caption["fileUrl"] == instance.url + caption["captionPath"]
    return r.text


def _assert_heard(instance: RunningInstance, video_uuid: str) -> None:
    captions = _captions(instance, video_uuid)
    assert 1 == captions["total"], captions
    caption = captions["data"][0]
    assert {"id": "en", "label": "English"} == caption["language"]
    assert caption["automaticallyGenerated"] is True
    assert caption["captionPath"].startswith("/lazy-static/video-captions/")
    text = _caption_text(instance, caption).lower()
    assert text.startswith("webvtt")
    assert all(word in text for word in SPOKEN_WORDS), text


@pytest.mark.slow
def test_local_workers_caption_the_upload(
    instance_factory: Callable[..., RunningInstance], tmp_path: Path
) -> None:
    """Remote transcription off: the upload's job (priority 200, the `/max-quality/audio` URL)
    runs on the instance's workers; the caption is English and holds the spoken words."""
    instance = instance_factory(remote_transcription=False, **ON)
    video_uuid = upload_video(instance, speech_clip(tmp_path / "speech.mp4"))

    job = wait_until(lambda: _settled(instance), timeout_s=120, message="local transcription")

    assert (COMPLETED, 200) == (job["state"]["id"], job["priority"]), job
    assert job["payload"]["input"]["videoFileUrl"].endswith(
        f"/videos/{video_uuid}/max-quality/audio"
    )
    _assert_heard(instance, video_uuid)


@pytest.mark.slow
def test_the_runner_cli_captions_the_upload(
    instance_factory: Callable[..., RunningInstance], tmp_path: Path, home: RunnerHome
) -> None:
    """`offload runner server --once` with faster-whisper in-process: it posts the VTT and
    `inputLanguage`, and the instance stores the English caption."""
    instance = instance_factory(**ON)
    assert 0 == home.register(instance, "whisper").returncode
    video_uuid = upload_video(instance, speech_clip(tmp_path / "speech.mp4"))
    assert 1 == len(_transcription_jobs(instance))  # the upload made it, pending (TR 118)
    home.configure()

    run = home.cli("server", "--once", timeout_s=180)

    assert 0 == run.returncode, run.stdout + run.stderr
    job = wait_until(lambda: _settled(instance), timeout_s=30, message="caption stored")
    assert COMPLETED == job["state"]["id"], job
    _assert_heard(instance, video_uuid)


def test_a_missing_model_fails_fast_and_the_runner_stops_taking_transcriptions(
    instance_factory: Callable[..., RunningInstance], tmp_path: Path, home: RunnerHome
) -> None:
    """A runner whose model is not on the machine does not take transcription jobs by default
    (it says why at start). Asked for them by name, it fails the job once, before any download,
    naming `[transcription] modelPath`, and takes no further one (`--once` then exits with the
    job back in the queue, one failure counted)."""
    instance = instance_factory(**ON, retry_backoff_s=0)
    assert 0 == home.register(instance, "no-model").returncode
    upload_video(instance, speech_clip(tmp_path / "speech.mp4"))
    home.configure(transcription={"model": "large-v3-not-on-this-machine"})

    by_default = home.cli("server", "--once", timeout_s=120)
    untouched = _transcription_jobs(instance)
    asked = home.cli("server", "--once", "--enable-job", TRANSCRIPTION, timeout_s=120)

    assert 0 == by_default.returncode, by_default.stdout + by_default.stderr
    assert "not taking video-transcription jobs: no Whisper model" in by_default.stderr
    assert [(PENDING, 0)] == [(j["state"]["id"], j["failures"]) for j in untouched]
    assert 0 == asked.returncode, asked.stdout + asked.stderr
    assert "taking no more video-transcription jobs" in asked.stderr, asked.stderr
    [job] = _transcription_jobs(instance)
    assert (PENDING, 1) == (job["state"]["id"], job["failures"]), job
    with instance.admin() as c:
        attempts = c.get(f"/api/v1/runners/jobs/{job['uuid']}").json()["attempts"]
    assert 1 == len(attempts), attempts
    assert "no Whisper model 'large-v3-not-on-this-machine'" in attempts[0]["message"]
    assert "[transcription] modelPath" in attempts[0]["message"]


def test_no_audio_no_job_and_generate_is_refused(
    instance_factory: Callable[..., RunningInstance], media_clips: MediaClips
) -> None:
    """A video without audio gets no transcription job and cannot be transcribed on demand;
    with transcription off, generate is refused too."""
    instance = instance_factory(**ON)
    mute = upload_video(instance, media_clips.no_audio)
    upload_video(instance, media_clips.small)  # the one with audio: the planner ran for both

    with instance.admin() as c:
        refused = c.post(f"/api/v1/videos/{mute}/captions/generate")
        config = c.get("/api/v1/config").json()["videoTranscription"]

    assert [] == [
        j
        for j in _transcription_jobs(instance)
        if f"/videos/{mute}/" in j["payload"]["input"]["videoFileUrl"]
    ]
    assert 1 == len(_transcription_jobs(instance))
    assert (400, "This video has no audio stream to transcribe") == (
        refused.status_code,
        refused.json()["detail"],
    )
    assert {"enabled": True, "remoteRunners": {"enabled": True}} == config

    off = instance_factory(transcoding_enabled=False, database_url=None)
    video = upload_video(off, media_clips.small)
    with off.admin() as c:
        r = c.post(f"/api/v1/videos/{video}/captions/generate")
    assert (400, "Transcription is not enabled on this instance") == (
        r.status_code,
        r.json()["detail"],
    )
    assert [] == _transcription_jobs(off)


@pytest.mark.parametrize(
    ("language", "stored"),
    [pytest.param("ar", "ar", id="known-ar"), pytest.param("toto", None, id="unknown-toto")],
)
def test_the_detected_language_decides_what_is_stored(
    instance_factory: Callable[..., RunningInstance],
    media_clips: MediaClips,
    tmp_path: Path,
    language: str,
    stored: str | None,
) -> None:
    """A runner posting `inputLanguage=ar` gets an Arabic caption; `toto` completes the job
    and stores nothing (PeerTube's TR 119/120)."""
    instance = instance_factory(**ON)
    video_uuid = upload_video(instance, media_clips.small)
    runner = HttpRunner.register(instance)
    vtt = tmp_path / "caption.vtt"
    vtt.write_text(GOOD_VTT)
    [offered] = runner.request()
    job = runner.accept(offered["uuid"])

    r = runner.success(job, {"vttFile": vtt, "inputLanguage": language})

    assert 204 == r.status_code, r.text
    final = wait_until(lambda: _settled(instance), timeout_s=30, message="completion")
    assert COMPLETED == final["state"]["id"], final
    captions = _captions(instance, video_uuid)
    assert ([stored] if stored else []) == [c["language"]["id"] for c in captions["data"]]
    if stored:
        assert GOOD_VTT == _caption_text(instance, captions["data"][0])


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        pytest.param(
            "1\n00:00.000 --> 00:00.500\nnot a header\n", "does not start with WEBVTT", id="no-vtt"
        ),
        pytest.param(
            "WEBVTT\n\n00:00:00.000 --> 00:00:09.000\nway too long\n",
            "past the end of the",
            id="past-the-end",
        ),
    ],
)
def test_a_wrong_caption_is_refused_then_errored(
    instance_factory: Callable[..., RunningInstance],
    media_clips: MediaClips,
    tmp_path: Path,
    content: str,
    reason: str,
) -> None:
    """A non-VTT file or a cue past the 1 s video is refused each time (counted, retried);
    after 5 failures the job is ERRORED saying why, and no caption is stored. Then an admin
    may ask for a new transcription (TR 121), and not twice while it is pending."""
    instance = instance_factory(**ON, retry_backoff_s=0)
    video_uuid = upload_video(instance, media_clips.small)
    runner = HttpRunner.register(instance)
    bad = tmp_path / "bad.vtt"
    bad.write_text(content)

    for _ in range(5):
        offered = wait_until(runner.request, timeout_s=30, message="transcription offered")
        job = runner.accept(offered[0]["uuid"])
        runner.success(job, {"vttFile": bad, "inputLanguage": "en"})
        wait_until(
            lambda uuid=job["uuid"]: (
                next(j for j in jobs_of(instance) if j["uuid"] == uuid)["state"]["id"] != PROCESSING
            ),
            timeout_s=30,
            message="completion settled",
        )

    final = _settled(instance)
    assert final is not None and ERRORED == final["state"]["id"], final
    assert final["error"].startswith("Output refused: the caption"), final
    assert reason in final["error"]
    assert 0 == _captions(instance, video_uuid)["total"]
    with instance.admin() as c:
        again = c.post(f"/api/v1/videos/{video_uuid}/captions/generate")
        twice = c.post(f"/api/v1/videos/{video_uuid}/captions/generate")
    assert (204, 409) == (again.status_code, twice.status_code), twice.text
    assert 2 == len(_transcription_jobs(instance))


@pytest.mark.slow
def test_a_studio_edit_makes_the_automatic_captions_again(
    instance_factory: Callable[..., RunningInstance], tmp_path: Path
) -> None:
    """As PeerTube: once players switch to an edited video, a video whose caption was made
    automatically gets a new transcription job, whose caption replaces the old one (its cues
    fit the edited duration)."""
    from tests.integration.test_studio_api import edit, video_of

    instance = instance_factory(remote_transcription=False, remote_studio=False, **ON)
    video_uuid = upload_video(instance, speech_clip(tmp_path / "speech.mp4"))
    first = wait_until(lambda: _settled(instance), timeout_s=120, message="first transcription")
    assert COMPLETED == first["state"]["id"], first
    duration = video_of(instance, video_uuid)["duration"]
    [before] = _captions(instance, video_uuid)["data"]

    assert 204 == edit(instance, video_uuid, [{"name": "cut", "options": {"start": 1}}]).status_code

    second = wait_until(
        lambda: (
            (jobs := _transcription_jobs(instance))[1:]
            and jobs[-1]["state"]["id"] in (COMPLETED, ERRORED)
            and jobs[-1]
        ),
        timeout_s=120,
        message="a second transcription after the edit",
    )
    captions = _captions(instance, video_uuid)
    assert (COMPLETED, 1) == (second["state"]["id"], captions["total"])
    assert video_of(instance, video_uuid)["duration"] == duration - 1
    assert before["captionPath"] != captions["data"][0]["captionPath"]
    # espeak says "Hello world." within the first second: the new caption is of the cut video.
    text = _caption_text(instance, captions["data"][0]).lower()
    assert ("remote runner" in text, "hello" in text) == (True, False), text
