"""Bitrate rules of PeerTube's default transcoding profile (runner.md §3.0), as pure functions.

Each limit is short side × long side × fps × bits-per-pixel, with the bits-per-pixel of the
largest standard resolution not above the target. Results are integers in bit/s, floored like
PeerTube's `Math.floor`, so our `-maxrate` values match the official runner's exactly.
"""

from __future__ import annotations

import math

__all__ = [
    "AVERAGE_BPP",
    "MAX_BPP",
    "MIN_BPP",
    "aspect_ratio",
    "average_bitrate",
    "max_audio_kbitrate",
    "max_bitrate",
    "min_bitrate",
    "target_bitrate",
]

#: Standard resolution (short side) → bits per pixel. 0 is "no video".
AVERAGE_BPP: dict[int, float] = {
    0: 0,
    144: 0.19,
    240: 0.17,
    360: 0.15,
    480: 0.12,
    720: 0.11,
    1080: 0.10,
    1440: 0.09,
    2160: 0.08,
}
MAX_BPP: dict[int, float] = {
    0: 0,
    144: 0.32,
    240: 0.29,
    360: 0.26,
    480: 0.22,
    720: 0.19,
    1080: 0.17,
    1440: 0.16,
    2160: 0.14,
}
MIN_BPP: dict[int, float] = {0: 0, **{r: 0.02 for r in (144, 240, 360, 480, 720, 1080, 1440, 2160)}}

_FALLBACK_AVERAGE = 192_000  # bit/s, when there is no picture to size the limit (ratio 0)
_FALLBACK_MAX = 256_000
_FALLBACK_MIN = 10_000
_MAX_AUDIO_KBITRATE = 384


def aspect_ratio(width: int, height: int) -> float:
    """Width ÷ height rounded to 4 decimals (PeerTube's `buildAspectRatio`); 0 without a picture."""
    if not width or not height:
        return 0.0
    return round(width / height * 10000) / 10000


def _bitrate(bpp: dict[int, float], resolution: int, ratio: float, fps: float) -> int:
    short_side = resolution
    # Portrait pictures have a ratio below 1: the long side is then the height.
    long_side = resolution / ratio if 0 < ratio < 1 else resolution * ratio
    standard = max(r for r in bpp if r <= resolution) if resolution >= 0 else 0
    return math.floor(short_side * long_side * fps * bpp[standard])


def average_bitrate(resolution: int, ratio: float, fps: float) -> int:
    """The average ("target") bitrate for a rendition, bit/s."""
    return _bitrate(AVERAGE_BPP, resolution, ratio, fps) or _FALLBACK_AVERAGE


def max_bitrate(resolution: int, ratio: float, fps: float) -> int:
    """The highest bitrate a source may have to be copied instead of re-encoded, bit/s."""
    return _bitrate(MAX_BPP, resolution, ratio, fps) or _FALLBACK_MAX


def min_bitrate(resolution: int, ratio: float, fps: float) -> int:
    """The floor under the target bitrate, bit/s."""
    return _bitrate(MIN_BPP, resolution, ratio, fps) or _FALLBACK_MIN


def target_bitrate(input_bitrate: int | None, resolution: int, ratio: float, fps: float) -> int:
    """The `-maxrate` of a rendition: the average bitrate, capped at 1.3 × the source's bitrate
    (no point spending more bits than the source had), but never below the minimum."""
    capped: float = average_bitrate(resolution, ratio, fps)
    if input_bitrate:
        capped = min(capped, input_bitrate * 1.3)
    result = max(min_bitrate(resolution, ratio, fps), capped)
    # PeerTube prints the JS number as is; 1.3 × an integer may have a fraction. Keep ffmpeg's
    # argument an integer (ffmpeg would truncate it anyway).
    return math.floor(result)


def max_audio_kbitrate(codec: str | None, bit_rate: int | None) -> int:
    """The AAC `-b:a` in kbit/s for a source audio stream, or -1 for "AAC at a sane bitrate:
    leave the encoder's default" (PeerTube's `getMaxAudioKBitrate`)."""
    if not bit_rate:
        # Someone uploading FLAC wants quality; otherwise an average value.
        return _MAX_AUDIO_KBITRATE if codec == "flac" else 256
    kbitrate = math.floor(bit_rate / 1000 + 0.5)  # JS Math.round
    if codec == "aac":
        return _MAX_AUDIO_KBITRATE if kbitrate > _MAX_AUDIO_KBITRATE else -1
    return min(_MAX_AUDIO_KBITRATE, kbitrate)
