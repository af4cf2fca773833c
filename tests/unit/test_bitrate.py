"""The bits-per-pixel bitrate rules of PeerTube's default profile (runner.md §3.0)."""

from __future__ import annotations

import pytest

from offload.media.bitrate import (
    AVERAGE_BPP,
    MAX_BPP,
    aspect_ratio,
    average_bitrate,
    max_audio_kbitrate,
    max_bitrate,
    min_bitrate,
    target_bitrate,
)

RATIO_16_9 = 1.7778


def test_bpp_tables_match_runner_md() -> None:
    """The average and max bits-per-pixel tables are runner.md's, resolution by resolution."""
    assert {
        144: 0.19,
        240: 0.17,
        360: 0.15,
        480: 0.12,
        720: 0.11,
        1080: 0.10,
        1440: 0.09,
        2160: 0.08,
    } == {k: v for k, v in AVERAGE_BPP.items() if k}
    assert {
        144: 0.32,
        240: 0.29,
        360: 0.26,
        480: 0.22,
        720: 0.19,
        1080: 0.17,
        1440: 0.16,
        2160: 0.14,
    } == {k: v for k, v in MAX_BPP.items() if k}


def test_aspect_ratio_is_rounded_to_four_decimals() -> None:
    """16:9 is 1.7778, portrait 9:16 is 0.5625, no picture is 0."""
    assert (RATIO_16_9, 0.5625, 0.0) == (
        aspect_ratio(1920, 1080),
        aspect_ratio(1080, 1920),
        aspect_ratio(0, 0),
    )


def test_1080p_16_9_at_30_fps_averages_about_6_2_mbits() -> None:
    """runner.md's example: 1080 × 1920.02 × 30 × 0.10, floored."""
    assert 6_220_877 == average_bitrate(1080, RATIO_16_9, 30)


def test_max_and_min_limits_use_their_own_tables() -> None:
    """The copy-check ceiling uses max bpp 0.17 at 1080p, the floor 0.02."""
    assert (10_575_492, 1_244_175) == (
        max_bitrate(1080, RATIO_16_9, 30),
        min_bitrate(1080, RATIO_16_9, 30),
    )


def test_portrait_long_side_is_resolution_over_ratio() -> None:
    """A 1080x1920 portrait video has the same pixel count as its landscape twin."""
    assert 1080 * 1920 * 30 * 0.10 == average_bitrate(1080, 0.5625, 30)


def test_non_standard_resolution_uses_the_next_standard_below() -> None:
    """1000p takes 720p's 0.11 bits per pixel."""
    assert 5_866_740 == average_bitrate(1000, RATIO_16_9, 30)


def test_no_picture_falls_back_to_fixed_bitrates() -> None:
    """Ratio 0 (audio only) gives 192k average, 256k max, 10k min."""
    assert (192_000, 256_000, 10_000) == (
        average_bitrate(480, 0, 25),
        max_bitrate(480, 0, 25),
        min_bitrate(480, 0, 25),
    )


@pytest.mark.parametrize(
    ("input_bitrate", "expected"),
    [
        (None, 6_220_877),  # unknown source bitrate: the average
        (10_000_000, 6_220_877),  # rich source: the average
        (1_000_000, 1_300_000),  # poor source: 1.3 × its bitrate
        (500_000, 1_244_175),  # very poor source: never below the minimum
    ],
)
def test_target_bitrate_caps_at_1_3_times_the_source(
    input_bitrate: int | None, expected: int
) -> None:
    """T = max(min, min(average, 1.3 × input))."""
    assert expected == target_bitrate(input_bitrate, 1080, RATIO_16_9, 30)


@pytest.mark.parametrize(
    ("codec", "bit_rate", "expected"),
    [
        ("aac", 128_000, -1),  # sane AAC: keep the encoder default
        ("aac", 400_000, 384),
        ("mp3", 192_000, 192),
        ("mp3", 127_500, 128),  # Math.round
        ("mp3", 500_000, 384),
        ("mp3", None, 256),  # unknown: an average value
        ("flac", None, 384),  # unknown FLAC: the uploader wants quality
    ],
)
def test_max_audio_kbitrate(codec: str, bit_rate: int | None, expected: int) -> None:
    """AAC above 384k is capped; other codecs get min(384, source); unknown gets 256 (FLAC 384)."""
    assert expected == max_audio_kbitrate(codec, bit_rate)
