"""Studio edits without ffmpeg: reading the payload and the pure parts of the argv builders."""

from __future__ import annotations

from pathlib import Path

import pytest

from offload.jobs.studio import Cut, IntroOutro, RemoveSegments, Watermark, read_studio_job
from offload.media.edition import EditInput, kept_intervals, watermark_args
from offload.media.errors import UnsupportedJob
from offload.media.ffmpeg import FfmpegOptions
from offload.media.probe import AudioStream, MediaInfo, VideoStream

OPTIONS = FfmpegOptions(path="ffmpeg", threads=2, nice=0)
URL = "https://i.test/api/v1/runners/jobs/j/files/videos/v"


def _info(audio: bool = True) -> MediaInfo:
    return MediaInfo(
        duration_s=10.0,
        format_name="mov,mp4,m4a,3gp,3g2,mj2",
        bit_rate=1_000_000,
        video=VideoStream("h264", 1280, 720, 29.97, "yuv420p", 900_000),
        audio=AudioStream("aac", 128_000, 2, "stereo", 48_000) if audio else None,
    )


@pytest.mark.parametrize(
    ("segments", "duration", "kept"),
    [
        ([(1, 2)], 4.0, [(0, 1), (2, 4)]),
        ([(3, 3.5), (1, 2)], 4.0, [(0, 1), (2, 3), (3.5, 4)]),  # sorted first
        ([(1, 3), (2, 5)], 8.0, [(0, 1), (5, 8)]),  # overlaps merged
        ([(0, 2)], 4.4, [(2, 4)]),  # duration rounded to whole seconds
        ([(2, 9)], 4.0, [(0, 2)]),  # past the end
        ([(0, 2), (1.5, 10)], 4.0, []),  # nothing left
    ],
)
def test_kept_intervals(
    segments: list[tuple[float, float]], duration: float, kept: list[tuple[float, float]]
) -> None:
    assert kept_intervals(segments, duration) == kept


def test_every_task_is_read_with_its_options() -> None:
    """Strings for seconds (old servers), the misspelled margin, a bare separate-audio string."""
    job = read_studio_job(
        {
            "input": {"videoFileUrl": f"{URL}/max-quality", "separatedAudioFileUrl": f"{URL}/a"},
            "tasks": [
                {"name": "cut", "options": {"start": "1.5"}},
                {"name": "add-outro", "options": {"file": f"{URL}/studio/task-files/o.mp4"}},
                {
                    "name": "add-watermark",
                    "options": {
                        "file": f"{URL}/studio/task-files/w.png",
                        "watermarkSizeRatio": 0.1,
                        "horitonzalMarginRatio": 0.05,
                        "verticalMarginRatio": 0.02,
                    },
                },
                {"name": "remove-segments", "options": {"segments": [{"start": 1, "end": 2}]}},
            ],
            "output": {},
        }
    )

    assert job.audio_url == f"{URL}/a"
    assert job.tasks == (
        Cut(1.5, None),
        IntroOutro(f"{URL}/studio/task-files/o.mp4", outro=True),
        Watermark(f"{URL}/studio/task-files/w.png", 0.1, 0.05, 0.02),
        RemoveSegments(((1.0, 2.0),)),
    )


def test_a_watermark_ratio_out_of_range_is_refused() -> None:
    with pytest.raises(UnsupportedJob, match="task 1 'add-watermark'.*watermarkSizeRatio 3"):
        read_studio_job(
            {
                "input": {"videoFileUrl": "v"},
                "tasks": [
                    {
                        "name": "add-watermark",
                        "options": {
                            "file": "w",
                            "watermarkSizeRatio": 3,
                            "horizontalMarginRatio": 0,
                            "verticalMarginRatio": 0,
                        },
                    }
                ],
            }
        )


def test_watermark_graph_scales_the_last_input_and_keeps_the_rate() -> None:
    """The image is the input after the separate audio; 10 % of 720 px; fps kept (rounded)."""
    source = EditInput(Path("v.mp4"), _info(audio=False), Path("a.m4a"), _info())
    args = watermark_args(
        source,
        Path("w.png"),
        Path("out.mp4"),
        size_ratio=0.1,
        horizontal_margin_ratio=0.02,
        vertical_margin_ratio=0.03,
        options=OPTIONS,
    )

    assert args[:7] == ["-i", "v.mp4", "-i", "a.m4a", "-i", "w.png", "-y"]
    graph = args[args.index("-filter_complex") + 1]
    assert graph == (
        "[2]scale=w=-1:h=72[v_watermark];"
        "[0][v_watermark]overlay=x=main_w - overlay_w - (main_h * 0.02):y=main_h * 0.03[v_overlay];"
        "[v_overlay]fps=fps=30"
    )
    assert "-vf" not in args and "-acodec" in args and args[-1] == "out.mp4"
