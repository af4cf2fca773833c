"""Studio edits (`video-studio-transcoding`) through `process_job`: the real ffmpeg on tiny
generated clips, outputs read back with PyAV. The fetch maps the payload's URLs to local files
(the runner's download, as an injected input source)."""

from __future__ import annotations

import asyncio
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pytest
from imageio_ffmpeg import get_ffmpeg_exe

from offload.media import probe
from offload.media.errors import MediaError, UnsupportedJob
from offload.media.ffmpeg import FfmpegOptions, resolve_ffmpeg_path
from offload.media.processors import SUPPORTED_JOB_TYPES, process_job
from tests.media import make_clip, paced_ffmpeg, processes_mentioning, video_duration_s
from tests.support import async_wait_until

STUDIO = "video-studio-transcoding"
# threads 1 and no renicing: the test machine is small and shared.
OPTIONS = FfmpegOptions(path=resolve_ffmpeg_path(), threads=1, nice=0)
BASE = "https://instance.test/api/v1/runners/jobs/job-1/files/videos/v-1"
MAIN_URL = f"{BASE}/max-quality"
TASK_FILES = f"{BASE}/studio/task-files"
#: One GOP of the 25 fps outputs is 2 s, but the cut is frame-accurate: a frame or two of slack.
SLACK_S = 0.1


@dataclass(frozen=True)
class StudioInputs:
    """The clips the payload URLs point at."""

    main: Path  # 4 s, 320x240 at 25 fps, H.264 + AAC
    silent_main: Path  # 2 s, 320x240 at 25 fps, no audio
    picture_only: Path  # 2 s, 320x240 at 25 fps, no audio: the video of a split upload
    separate_audio: Path  # 2 s AAC: its separately stored sound
    intro: Path  # 1 s, 160x200 at 30 fps, no audio: another size, another rate
    outro: Path  # 1 s, 320x240 at 25 fps, with audio
    watermark: Path  # a 64x64 black PNG (testsrc is white in that corner)
    not_an_image: Path  # a 1 s audio file offered as a watermark
    corrupt: Path  # bytes no demuxer reads

    def fetch_map(self) -> dict[str, Path]:
        return {
            MAIN_URL: self.main,
            f"{BASE}/silent": self.silent_main,
            f"{BASE}/picture": self.picture_only,
            f"{BASE}/max-quality/audio": self.separate_audio,
            f"{TASK_FILES}/intro.mp4": self.intro,
            f"{TASK_FILES}/outro.mp4": self.outro,
            f"{TASK_FILES}/watermark.png": self.watermark,
            f"{TASK_FILES}/sound.m4a": self.not_an_image,
            f"{TASK_FILES}/corrupt.mp4": self.corrupt,
        }


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> StudioInputs:
    directory = tmp_path_factory.mktemp("studio")
    watermark = directory / "watermark.png"
    subprocess.run(
        [get_ffmpeg_exe(), "-nostdin", "-v", "error", "-y", "-f", "lavfi"]
        + ["-i", "color=black:size=64x64", "-frames:v", "1", str(watermark)],
        check=True,
        capture_output=True,
        timeout=60,
    )
    corrupt = directory / "corrupt.mp4"
    corrupt.write_bytes(b"\x00\x00\x00\x18ftypisom" + bytes(range(256)) * 64)
    return StudioInputs(
        main=make_clip(directory / "main.mp4", duration_s=4.0),
        silent_main=make_clip(directory / "silent.mp4", duration_s=2.0, audio=False),
        picture_only=make_clip(directory / "picture.mp4", duration_s=2.0, audio=False),
        separate_audio=make_clip(directory / "audio.m4a", duration_s=2.0, video=False),
        intro=make_clip(directory / "intro.mp4", size="160x200", fps=30, audio=False),
        outro=make_clip(directory / "outro.mp4"),
        watermark=watermark,
        not_an_image=make_clip(directory / "sound.m4a", video=False),
        corrupt=corrupt,
    )


def _payload(*tasks: dict[str, Any], video_url: str = MAIN_URL, **input_: Any) -> dict[str, Any]:
    return {"input": {"videoFileUrl": video_url, **input_}, "tasks": list(tasks), "output": {}}


def _watermark(**options: Any) -> dict[str, Any]:
    return {
        "name": "add-watermark",
        "options": {
            "file": f"{TASK_FILES}/watermark.png",
            "watermarkSizeRatio": 0.1,
            "horizontalMarginRatio": 0.02,
            "verticalMarginRatio": 0.02,
            **options,
        },
    }


async def _run(
    inputs: StudioInputs,
    payload: dict[str, Any],
    workdir: Path,
    progress: list[int] | None = None,
    options: FfmpegOptions = OPTIONS,
) -> Path:
    files = inputs.fetch_map()
    fetched: list[str] = []

    async def fetch(url: str) -> Path:
        fetched.append(url)
        return files[url]

    result = await process_job(
        STUDIO,
        payload,
        workdir=workdir,
        fetch=fetch,
        on_progress=(progress if progress is not None else []).append,
        ffmpeg=options,
    )
    assert set(result) == {"videoFile"}
    return result["videoFile"]


def _shape(path: Path) -> tuple[int, int, float]:
    info = probe(path)
    assert info.video is not None
    return info.video.width, info.video.height, info.video.fps


def _box_mean(path: Path, at_s: float, box: tuple[int, int, int, int]) -> float:
    """Mean luma of the box (x0, y0, x1, y1) in the first frame at or after `at_s`."""
    x0, y0, x1, y1 = box
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time is not None and frame.time + 1e-6 < at_s:
                continue
            gray = frame.reformat(format="gray")
            plane = gray.planes[0]
            data, stride = bytes(plane), plane.line_size
            values = [data[y * stride + x] for y in range(y0, y1) for x in range(x0, x1)]
            return sum(values) / len(values)
    raise AssertionError(f"no frame at {at_s} s in {path.name}")


def test_the_runner_takes_studio_jobs() -> None:
    """Studio edits have a processing step now, so a runner advertises the type."""
    assert STUDIO in SUPPORTED_JOB_TYPES


class TestTasks:
    async def test_cut_keeps_the_interval_the_size_and_the_rate(
        self, inputs: StudioInputs, tmp_path: Path
    ) -> None:
        """cut 1..3 of a 4 s clip: 2 s left, 320x240 at 25 fps, sound kept."""
        output = await _run(
            inputs, _payload({"name": "cut", "options": {"start": 1, "end": 3}}), tmp_path
        )

        assert abs(video_duration_s(output) - 2.0) <= SLACK_S
        assert _shape(output) == (320, 240, 25.0)
        assert probe(output).has_audio
        assert output.parent == tmp_path and output.name.startswith("output-edition-")

    async def test_cut_bounds_sent_as_strings_and_alone(
        self, inputs: StudioInputs, tmp_path: Path
    ) -> None:
        """Old servers send strings; an absent end cuts to the end of the video."""
        output = await _run(
            inputs, _payload({"name": "cut", "options": {"start": "2.5"}}), tmp_path
        )

        assert abs(video_duration_s(output) - 1.5) <= SLACK_S

    async def test_intro_adds_its_length_fitted_into_the_main_picture(
        self, inputs: StudioInputs, tmp_path: Path
    ) -> None:
        """A 1 s 160x200 silent intro before a 4 s clip with sound: 5 s at the clip's 320x240 and
        25 fps, with sound (silence under the intro)."""
        output = await _run(
            inputs,
            _payload({"name": "add-intro", "options": {"file": f"{TASK_FILES}/intro.mp4"}}),
            tmp_path,
        )

        assert abs(video_duration_s(output) - 5.0) <= SLACK_S
        assert _shape(output) == (320, 240, 25.0)
        info = probe(output)
        assert info.audio is not None and (info.audio.duration_s or 0) >= 4.9
        with av.open(str(output)) as container:  # the picture keeps square pixels (4:3)
            assert container.streams.video[0].sample_aspect_ratio in (None, 0, 1)
        # The intro is centred on black: the left and right bands of its first frame are black.
        assert _box_mean(output, 0.0, (0, 0, 40, 240)) < 25
        assert _box_mean(output, 0.0, (100, 20, 220, 220)) > 40

    async def test_outro_with_sound_after_a_silent_video_maps_no_audio(
        self, inputs: StudioInputs, tmp_path: Path
    ) -> None:
        """The main video has no sound: the result has none either, and the outro's length."""
        output = await _run(
            inputs,
            _payload(
                {"name": "add-outro", "options": {"file": f"{TASK_FILES}/outro.mp4"}},
                video_url=f"{BASE}/silent",
            ),
            tmp_path,
        )

        assert abs(video_duration_s(output) - 3.0) <= SLACK_S
        assert not probe(output).has_audio
        assert _shape(output) == (320, 240, 25.0)

    async def test_watermark_lands_in_the_top_right_corner(
        self, inputs: StudioInputs, tmp_path: Path
    ) -> None:
        """A black square 10 % of the height (24 px), 2 % of the height (4.8 px) from the top and
        right edges: that box turns black, the opposite corner stays as it was."""
        output = await _run(inputs, _payload(_watermark()), tmp_path)

        corner, elsewhere = (293, 6, 314, 27), (6, 200, 27, 221)
        assert _box_mean(output, 1.0, corner) < 30
        assert _box_mean(inputs.main, 1.0, corner) - _box_mean(output, 1.0, corner) > 150
        assert abs(_box_mean(output, 1.0, elsewhere) - _box_mean(inputs.main, 1.0, elsewhere)) < 10
        assert abs(video_duration_s(output) - 4.0) <= SLACK_S
        assert _shape(output) == (320, 240, 25.0) and probe(output).has_audio

    async def test_watermark_margin_under_its_old_misspelled_name(
        self, inputs: StudioInputs, tmp_path: Path
    ) -> None:
        """Servers before the typo fix send `horitonzalMarginRatio`: it is honoured."""
        options = _watermark(horitonzalMarginRatio=0.2)["options"]
        del options["horizontalMarginRatio"]
        output = await _run(
            inputs, _payload({"name": "add-watermark", "options": options}), tmp_path
        )

        # 0.2 × 240 = 48 px from the right edge: the square now spans x 248..272.
        assert _box_mean(output, 1.0, (250, 6, 270, 27)) < 30
        assert _box_mean(output, 1.0, (293, 6, 314, 27)) > 150

    async def test_remove_segments_removes_their_length(
        self, inputs: StudioInputs, tmp_path: Path
    ) -> None:
        """Removing 1..2 and 3..3.5 (given out of order) of a 4 s clip leaves 2.5 s."""
        segments = [{"start": 3, "end": 3.5}, {"start": 1, "end": 2}]
        output = await _run(
            inputs,
            _payload({"name": "remove-segments", "options": {"segments": segments}}),
            tmp_path,
        )

        assert abs(video_duration_s(output) - 2.5) <= SLACK_S
        assert _shape(output) == (320, 240, 25.0) and probe(output).has_audio

    async def test_separate_audio_feeds_the_first_task(
        self, inputs: StudioInputs, tmp_path: Path
    ) -> None:
        """A split upload: the picture-only video plus its sound (a list, first URL used) —
        the cut output carries the sound."""
        output = await _run(
            inputs,
            _payload(
                {"name": "cut", "options": {"end": 1}},
                {"name": "add-intro", "options": {"file": f"{TASK_FILES}/intro.mp4"}},
                video_url=f"{BASE}/picture",
                separatedAudioFileUrl=[f"{BASE}/max-quality/audio"],
            ),
            tmp_path,
        )

        assert probe(output).has_audio
        assert abs(video_duration_s(output) - 2.0) <= SLACK_S


class TestChain:
    async def test_cut_intro_watermark_in_one_job(
        self, inputs: StudioInputs, tmp_path: Path
    ) -> None:
        """Each task feeds the next: 2 s cut + 1 s intro = 3 s, watermarked throughout, one file
        left in the work directory; progress rises through each task's share to 100."""
        progress: list[int] = []
        output = await _run(
            inputs,
            _payload(
                {"name": "cut", "options": {"start": 1, "end": 3}},
                {"name": "add-intro", "options": {"file": f"{TASK_FILES}/intro.mp4"}},
                _watermark(),
            ),
            tmp_path,
            progress,
        )

        assert abs(video_duration_s(output) - 3.0) <= SLACK_S
        assert _shape(output) == (320, 240, 25.0) and probe(output).has_audio
        assert _box_mean(output, 2.0, (293, 6, 314, 27)) < 30
        assert [p.name for p in tmp_path.iterdir()] == [output.name]
        assert progress == sorted(set(progress)), progress
        assert progress[-1] >= 99
        assert {33, 66} <= set(progress), progress  # each task's end, not one jump at the end


class TestReadableErrors:
    @pytest.mark.parametrize(
        ("task", "message"),
        [
            ({"name": "add-music", "options": {}}, "'add-music' is not supported"),
            ({"options": {}}, "None is not supported"),
            ({"name": "cut", "options": {"start": "soon"}}, "task 1 'cut' has invalid options"),
            ({"name": "cut", "options": {"start": 3, "end": 1}}, "is not after start"),
            ({"name": "add-intro", "options": {}}, "'add-intro' has invalid options"),
            (
                {"name": "add-watermark", "options": {"file": f"{TASK_FILES}/watermark.png"}},
                "watermarkSizeRatio is missing",
            ),
            (
                {"name": "remove-segments", "options": {"segments": [{"start": 2}]}},
                "needs a start before its end",
            ),
            ({"name": "remove-segments", "options": {}}, "non-empty list"),
            ({"name": "remove-segments", "options": {"segments": [3]}}, "has invalid options"),
            ({"name": "cut", "options": [1, 3]}, "options is not an object"),
            ("cut", "None is not supported"),
        ],
        ids=[
            *("unknown", "nameless", "bad-start", "reversed", "no-file", "no-ratio", "half"),
            *("no-segments", "segment-not-object", "options-not-object", "task-not-object"),
        ],
    )
    async def test_a_bad_task_is_refused_before_any_work(
        self, inputs: StudioInputs, tmp_path: Path, task: Any, message: str
    ) -> None:
        """Checked up front, named in the message: no ffmpeg ran, nothing was written."""
        with pytest.raises(UnsupportedJob, match=message):
            await _run(inputs, _payload(task), tmp_path)

        assert not tmp_path.exists() or not list(tmp_path.iterdir())

    async def test_a_later_bad_task_names_its_position(
        self, inputs: StudioInputs, tmp_path: Path
    ) -> None:
        with pytest.raises(UnsupportedJob, match="task 2 'spin'"):
            await _run(inputs, _payload({"name": "cut", "options": {}}, {"name": "spin"}), tmp_path)

    async def test_no_tasks_is_a_malformed_payload(
        self, inputs: StudioInputs, tmp_path: Path
    ) -> None:
        with pytest.raises(UnsupportedJob, match="malformed video-studio-transcoding payload"):
            await _run(inputs, _payload(), tmp_path)

    async def test_a_corrupt_intro(self, inputs: StudioInputs, tmp_path: Path) -> None:
        with pytest.raises(MediaError, match="add-intro: the clip is not a readable video"):
            await _run(
                inputs,
                _payload({"name": "add-intro", "options": {"file": f"{TASK_FILES}/corrupt.mp4"}}),
                tmp_path,
            )

    async def test_a_watermark_that_is_not_an_image(
        self, inputs: StudioInputs, tmp_path: Path
    ) -> None:
        for name in ("sound.m4a", "corrupt.mp4"):
            with pytest.raises(
                MediaError, match="add-watermark: the watermark file is not an image"
            ):
                await _run(inputs, _payload(_watermark(file=f"{TASK_FILES}/{name}")), tmp_path)

    async def test_segments_covering_everything(self, inputs: StudioInputs, tmp_path: Path) -> None:
        segments = [{"start": 0, "end": 2}, {"start": 1.5, "end": 10}]
        with pytest.raises(MediaError, match="cover the whole 4.0 s video; nothing would be left"):
            await _run(
                inputs,
                _payload({"name": "remove-segments", "options": {"segments": segments}}),
                tmp_path,
            )

    async def test_a_cut_past_the_end(self, inputs: StudioInputs, tmp_path: Path) -> None:
        with pytest.raises(MediaError, match="past the end"):
            await _run(inputs, _payload({"name": "cut", "options": {"start": 9}}), tmp_path)


async def test_cancelling_mid_task_kills_ffmpeg(inputs: StudioInputs, tmp_path: Path) -> None:
    """ffmpeg paced at native speed is still encoding the second task when the job is
    cancelled: the coroutine ends cancelled and no process mentions the job's work dir."""
    workdir = tmp_path / f"job-{uuid.uuid4()}"
    paced = OPTIONS.__class__(path=str(paced_ffmpeg(tmp_path)), threads=1, nice=0)
    progress: list[int] = []
    job = asyncio.create_task(
        _run(
            inputs,
            _payload({"name": "cut", "options": {"end": 1}}, _watermark()),
            workdir,
            progress,
            paced,
        )
    )
    await async_wait_until(
        lambda: (
            set(processes_mentioning(str(workdir)))
            & set(processes_mentioning(str(inputs.watermark)))
        ),
        timeout_s=30,
        message="the second task's ffmpeg (the one reading the watermark) is running",
    )
    assert progress and progress[-1] < 100

    job.cancel()
    with pytest.raises(asyncio.CancelledError):
        await job

    assert processes_mentioning(str(workdir)) == []
