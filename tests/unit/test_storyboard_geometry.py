"""PeerTube's storyboard geometry (`server/core/lib/storyboard.ts`) and sprite command."""

from __future__ import annotations

from pathlib import Path

import pytest

from offload.jobs.storyboard import SpriteGeometry, sprite_geometry, storyboard_args
from offload.media.ffmpeg import FfmpegOptions


@pytest.mark.parametrize(
    ("duration_s", "grid", "sprite_duration_s"),
    [
        pytest.param(4.0, (4, 1), 1, id="4s-one-row"),
        pytest.param(2.5, (3, 1), 1, id="halves-round-up-like-Math.round"),
        pytest.param(11.0, (11, 1), 1, id="one-full-row"),
        pytest.param(30.0, (10, 3), 1, id="smallest-grid-rows-first"),
        pytest.param(121.0, (11, 11), 1, id="full-grid"),
        pytest.param(600.0, (11, 11), 5, id="long-video-wider-spacing"),
        pytest.param(3600.0, (11, 11), 30, id="hour"),
    ],
)
def test_grid_and_spacing_follow_the_duration(
    duration_s: float, grid: tuple[int, int], sprite_duration_s: int
) -> None:
    """One sprite a second up to 121, then wider spacing; the smallest grid of ≤ 11 per edge."""
    geometry = sprite_geometry(duration_s, 320, 240)

    assert geometry is not None
    assert (grid, sprite_duration_s) == (
        (geometry.columns, geometry.rows),
        geometry.sprite_duration_s,
    )


@pytest.mark.parametrize("duration_s", [0.0, 1.0, 2.49])
def test_videos_shorter_than_3_s_get_none(duration_s: float) -> None:
    """Under 3 whole seconds (rounded as PeerTube stores durations) there is no storyboard."""
    assert sprite_geometry(duration_s, 320, 240) is None


@pytest.mark.parametrize(
    ("width", "height", "sprite"),
    [
        pytest.param(320, 240, (192, 144), id="landscape-4:3"),
        pytest.param(1280, 720, (192, 108), id="landscape-16:9"),
        pytest.param(240, 426, (108, 192), id="portrait"),
        pytest.param(500, 500, (192, 192), id="square"),
    ],
)
def test_the_longer_edge_of_a_sprite_is_192_px(
    width: int, height: int, sprite: tuple[int, int]
) -> None:
    """Sprites keep the picture's ratio with their longer edge at 192 px."""
    geometry = sprite_geometry(10.0, width, height)

    assert geometry is not None
    assert sprite == (geometry.sprite_width, geometry.sprite_height)


def test_the_payload_shape_round_trips() -> None:
    """`sprites` is PeerTube's {size, count, duration}, and reads back as the same geometry."""
    geometry = SpriteGeometry(192, 108, 4, 1, 1)

    assert {
        "size": {"width": 192, "height": 108},
        "count": {"width": 4, "height": 1},
        "duration": 1,
    } == geometry.to_wire()
    assert geometry == SpriteGeometry.from_wire(geometry.to_wire())
    assert (768, 108) == (geometry.total_width, geometry.total_height)


def test_the_sprite_command_is_peertubes() -> None:
    """The official runner's ffmpeg arguments: select every N s, scale, tile, one JPEG frame."""
    args = storyboard_args(
        Path("in.mp4"), Path("out.jpg"), SpriteGeometry(192, 144, 4, 1, 1), FfmpegOptions("ffmpeg")
    )

    assert [
        "-i",
        "in.mp4",
        "-y",
        "-threads",
        "2",
        "-filter_complex",
        "setpts='N/FRAME_RATE/TB',select='isnan(prev_selected_t)+gte(t-prev_selected_t,1)',"
        "scale=192:144,tile=layout=4x1",
        "-frames:v",
        "1",
        "-q:v",
        "2",
        "out.jpg",
    ] == args
