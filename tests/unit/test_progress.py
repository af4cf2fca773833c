"""Parsing ffmpeg's `-progress` key=value blocks."""

from __future__ import annotations

from offload.media.progress import FfmpegProgress, ProgressReader, percent

BLOCK = """frame=25
fps=0.00
stream_0_0_q=-1.0
bitrate= 184.9kbits/s
total_size=23116
out_time_us=2500000
out_time_ms=2500000
out_time=00:00:02.500000
dup_frames=0
drop_frames=0
speed=12.1x
progress=continue
"""


def _feed(text: str) -> list[FfmpegProgress]:
    reader = ProgressReader()
    return [p for line in text.splitlines() if (p := reader.feed(line)) is not None]


def test_a_block_becomes_one_progress() -> None:
    """Only the `progress=` line closes a block."""
    assert [FfmpegProgress(out_time_s=2.5, speed=12.1, done=False)] == _feed(BLOCK)


def test_end_block_is_done() -> None:
    """`progress=end` marks the last block."""
    assert [True] == [p.done for p in _feed(BLOCK.replace("progress=continue", "progress=end"))]


def test_not_available_times_are_unknown() -> None:
    """Before the first packet ffmpeg writes N/A."""
    block = "out_time_us=N/A\nout_time_ms=N/A\nout_time=N/A\nspeed=N/A\nprogress=continue\n"

    assert [FfmpegProgress(out_time_s=None, speed=None, done=False)] == _feed(block)


def test_clock_time_is_a_fallback() -> None:
    """Old builds without out_time_us still give out_time as a clock."""
    assert [61.5] == [p.out_time_s for p in _feed("out_time=00:01:01.500000\nprogress=continue\n")]


def test_blocks_do_not_leak_into_each_other() -> None:
    """A second block without speed has no speed."""
    progresses = _feed(BLOCK + "out_time_us=3000000\nprogress=continue\n")

    assert [(2.5, 12.1), (3.0, None)] == [(p.out_time_s, p.speed) for p in progresses]


def test_percent_of_duration() -> None:
    """2.5 s of a 10 s input is 25 %."""
    assert 25 == percent(FfmpegProgress(2.5, 1.0, False), 10.0)


def test_percent_is_clamped_and_complete_at_end() -> None:
    """Overshoot is 100, a negative time 0, the end block 100."""
    assert (100, 0, 100) == (
        percent(FfmpegProgress(12.0, 1.0, False), 10.0),
        percent(FfmpegProgress(-1.0, 1.0, False), 10.0),
        percent(FfmpegProgress(None, None, True), None),
    )


def test_percent_unknown_without_duration() -> None:
    """No duration, no percentage."""
    assert (None, None) == (
        percent(FfmpegProgress(2.0, 1.0, False), None),
        percent(FfmpegProgress(None, 1.0, False), 10.0),
    )
