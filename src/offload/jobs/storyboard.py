"""`generate-video-storyboard`, runner side: the sprite geometry, the payload and the processing
step (PeerTube's ffmpeg sprite command). The instance half (enqueue after publish, check and
store the sheet) is `storyboard_completion.py`.

Geometry as PeerTube computes it (`server/core/lib/storyboard.ts`: `buildSpriteSize`,
`buildTotalSprites`, `findGridSize`; `STORYBOARD` in `initializers/constants.ts`): the sprite's
longer edge is 192 px and the other follows the picture's ratio; a video shorter than 3 s
(PeerTube's duration is whole seconds, `Math.round` of the container's) gets none; one sprite
per `ceil(duration / min(ceil(duration), 121))` seconds, laid out in the smallest grid of at
most 11×11 that holds them all, rows before columns grow.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from offload.domain.jobs import JobType
from offload.jobs.kind import JobKind, Work, no_update_payload, success_files
from offload.media.errors import MediaError, UnsupportedJob
from offload.media.ffmpeg import FfmpegOptions, ffmpeg_command
from offload.media.ffmpeg_process import run_ffmpeg

__all__ = [
    "KIND",
    "MIN_DURATION_S",
    "SPRITES_MAX_EDGE_COUNT",
    "SPRITE_MAX_SIZE",
    "SpriteGeometry",
    "sprite_geometry",
    "storyboard_args",
]

#: `STORYBOARD.SPRITE_MAX_SIZE`: the longer edge of one sprite, px.
SPRITE_MAX_SIZE = 192
#: `STORYBOARD.SPRITES_MAX_EDGE_COUNT`: sprites per row and per column at most.
SPRITES_MAX_EDGE_COUNT = 11
#: Shorter videos (whole seconds) get no storyboard.
MIN_DURATION_S = 3


@dataclass(frozen=True, slots=True)
class SpriteGeometry:
    """One sheet: `columns` × `rows` sprites of `sprite_width` × `sprite_height` px, one every
    `sprite_duration_s` seconds of the video."""

    sprite_width: int
    sprite_height: int
    columns: int
    rows: int
    sprite_duration_s: int

    @property
    def total_width(self) -> int:
        return self.sprite_width * self.columns

    @property
    def total_height(self) -> int:
        return self.sprite_height * self.rows

    def to_wire(self) -> dict[str, Any]:
        """The payload's `sprites` object."""
        return {
            "size": {"width": self.sprite_width, "height": self.sprite_height},
            "count": {"width": self.columns, "height": self.rows},
            "duration": self.sprite_duration_s,
        }

    @classmethod
    def from_wire(cls, sprites: Any) -> SpriteGeometry:
        """Read a payload's `sprites`; KeyError / TypeError / ValueError when malformed."""
        values = (
            int(sprites["size"]["width"]),
            int(sprites["size"]["height"]),
            int(sprites["count"]["width"]),
            int(sprites["count"]["height"]),
            int(sprites["duration"]),
        )
        if min(values) < 1:
            raise ValueError("sprites")
        return cls(*values)


def _js_round(value: float) -> int:
    """JavaScript's `Math.round` (halves go up), not Python's banker's rounding."""
    return math.floor(value + 0.5)


def _sprite_size(width: int, height: int) -> tuple[int, int]:
    if width < height:  # PeerTube's portrait mode: the height is the long edge
        return max(1, _js_round(SPRITE_MAX_SIZE * width / height)), SPRITE_MAX_SIZE
    return SPRITE_MAX_SIZE, max(1, _js_round(SPRITE_MAX_SIZE * height / width))


def _grid(total: int) -> tuple[int, int]:
    """`findGridSize`: (columns, rows), the first fit with rows ≤ columns ≤ 11."""
    for rows in range(1, SPRITES_MAX_EDGE_COUNT + 1):
        for columns in range(rows, SPRITES_MAX_EDGE_COUNT + 1):
            if total <= rows * columns:
                return columns, rows
    raise ValueError(f"{total} sprites do not fit an {SPRITES_MAX_EDGE_COUNT}² grid")


def sprite_geometry(duration_s: float, width: int, height: int) -> SpriteGeometry | None:
    """The sheet PeerTube asks for a video of this duration and picture size; None when the
    video is too short (or has no picture)."""
    duration = _js_round(duration_s)
    if duration < MIN_DURATION_S or width < 1 or height < 1:
        return None
    max_sprites = min(duration, SPRITES_MAX_EDGE_COUNT * SPRITES_MAX_EDGE_COUNT)
    sprite_duration = math.ceil(duration / max_sprites)
    columns, rows = _grid(math.ceil(duration / sprite_duration))
    sprite_width, sprite_height = _sprite_size(width, height)
    return SpriteGeometry(sprite_width, sprite_height, columns, rows, sprite_duration)


def storyboard_args(
    video_input: Path, output: Path, geometry: SpriteGeometry, options: FfmpegOptions
) -> list[str]:
    """PeerTube's sprite command (`FFmpegImage.generateStoryboardFromVideo`): a frame every
    `duration` seconds, scaled and tiled into one JPEG."""
    filters = ",".join(
        [
            "setpts='N/FRAME_RATE/TB'",
            f"select='isnan(prev_selected_t)+gte(t-prev_selected_t,{geometry.sprite_duration_s})'",
            f"scale={geometry.sprite_width}:{geometry.sprite_height}",
            f"tile=layout={geometry.columns}x{geometry.rows}",
        ]
    )
    threads = ["-threads", str(options.threads)] if options.threads else []
    return [
        "-i",
        str(video_input),
        "-y",
        *threads,
        "-filter_complex",
        filters,
        "-frames:v",
        "1",
        "-q:v",
        "2",
        str(output),
    ]


def _read(payload: dict[str, Any]) -> tuple[str, SpriteGeometry]:
    try:
        return str(payload["input"]["videoFileUrl"]), SpriteGeometry.from_wire(payload["sprites"])
    except (KeyError, TypeError, ValueError) as exc:
        raise UnsupportedJob(
            f"malformed {JobType.STORYBOARD} payload: missing or invalid {exc}"
        ) from exc


async def _storyboard(payload: dict[str, Any], work: Work) -> dict[str, Path]:
    url, geometry = _read(payload)
    work.workdir.mkdir(parents=True, exist_ok=True)
    video = await work.fetch(url)
    output = work.workdir / f"storyboard-{uuid.uuid4()}.jpg"
    argv = ffmpeg_command(work.ffmpeg, storyboard_args(video, output, geometry, work.ffmpeg))
    # No progress, as the official runner: the select filter drops most frames, so ffmpeg's
    # output time says little about how far it is.
    await run_ffmpeg(argv, cwd=work.workdir, duration_s=None, on_progress=work.on_progress)
    if not await asyncio.to_thread(output.is_file):
        raise MediaError("ffmpeg wrote no storyboard (no frame to sample?)")
    return {"storyboardFile": output}


KIND = JobKind(JobType.STORYBOARD, success_files("storyboardFile"), no_update_payload, _storyboard)
