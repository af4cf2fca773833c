"""Capacity decisions: global concurrency and optional per-type limits."""

from __future__ import annotations

from collections import Counter

import pytest

from offload.runner.slots import can_take, fits_resolution, free_slots

HLS = "vod-hls-transcoding"
WEB = "vod-web-video-transcoding"


def test_free_slots_count_every_type() -> None:
    """Two running jobs of any types leave one slot of three."""
    assert 1 == free_slots(3, Counter({HLS: 1, WEB: 1}))


def test_full_runner_takes_nothing() -> None:
    """No free slot, no job, whatever its type."""
    assert not can_take(WEB, Counter({HLS: 2}), 2, {})


def test_type_limit_applies_within_the_global_limit() -> None:
    """HLS limited to 1: a second HLS waits while a web job still fits."""
    running = Counter({HLS: 1})

    assert (False, True) == (
        can_take(HLS, running, 4, {HLS: 1}),
        can_take(WEB, running, 4, {HLS: 1}),
    )


def test_type_limited_to_zero_is_never_taken() -> None:
    """A limit of 0 disables a type."""
    assert not can_take(HLS, Counter(), 4, {HLS: 0})


@pytest.mark.parametrize(
    ("payload", "max_resolution", "fits"),
    [
        ({"output": {"resolution": 1080}}, 720, False),
        ({"output": {"resolution": 720}}, 720, True),
        ({"output": {"resolution": 2160}}, None, True),
        ({"input": {}}, 240, True),  # no picture to limit (transcription, studio edits)
        ({"output": {"resolution": "1080"}}, 240, True),  # not a number: not ours to judge
    ],
)
def test_fits_resolution(
    payload: dict[str, object], max_resolution: int | None, fits: bool
) -> None:
    assert fits is fits_resolution(payload, max_resolution)
