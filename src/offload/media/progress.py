"""Parse ffmpeg's `-progress` output: blocks of `key=value` lines, each ended by `progress=`.

ffmpeg writes a block about twice a second and a last one with `progress=end`. We turn each
block into a `FfmpegProgress` and a percentage of the expected duration.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FfmpegProgress", "ProgressReader", "percent"]


@dataclass(frozen=True)
class FfmpegProgress:
    """One progress block: how much output time is written, how fast, and whether it is the last."""

    out_time_s: float | None
    speed: float | None
    done: bool


class ProgressReader:
    """Feed it ffmpeg's progress lines one at a time; it returns a `FfmpegProgress` at the end
    of each block and None otherwise."""

    def __init__(self) -> None:
        self._block: dict[str, str] = {}

    def feed(self, line: str) -> FfmpegProgress | None:
        key, sep, value = line.strip().partition("=")
        if not sep:
            return None
        self._block[key.strip()] = value.strip()
        if key.strip() != "progress":
            return None
        block, self._block = self._block, {}
        return FfmpegProgress(
            out_time_s=_out_time_s(block),
            speed=_speed(block.get("speed")),
            done=block.get("progress") == "end",
        )


def percent(progress: FfmpegProgress, duration_s: float | None) -> int | None:
    """Whole percent done, clamped to 0–100; None when it cannot be known (no duration)."""
    if progress.done:
        return 100
    if not duration_s or duration_s <= 0 or progress.out_time_s is None:
        return None
    return max(0, min(100, int(progress.out_time_s / duration_s * 100)))


def _out_time_s(block: dict[str, str]) -> float | None:
    # `out_time_us` is the current key; `out_time_ms` is the same value in µs despite its name
    # (an old ffmpeg mistake kept for compatibility). Before the first packet it reads "N/A".
    for key in ("out_time_us", "out_time_ms"):
        raw = block.get(key, "")
        try:
            value = int(raw)
        except ValueError:
            continue
        return max(0.0, value / 1_000_000)
    raw = block.get("out_time", "")
    return _clock_s(raw)


def _clock_s(raw: str) -> float | None:
    parts = raw.split(":")
    if len(parts) != 3:
        return None
    try:
        hours, minutes, seconds = int(parts[0]), int(parts[1]), float(parts[2])
    except ValueError:
        return None
    return max(0.0, hours * 3600 + minutes * 60 + seconds)


def _speed(raw: str | None) -> float | None:
    if not raw or not raw.endswith("x"):
        return None
    try:
        return float(raw[:-1])
    except ValueError:
        return None
