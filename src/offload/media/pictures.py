"""Preview pictures at PeerTube's size, made by ffmpeg from an uploaded picture or a video.

PeerTube resizes every preview to `PREVIEW_SIZE` (its `PREVIEWS_SIZE`, server/initializers/
constants), cropping to fill it; its runner loops that picture at its own size in an audio
merge, so the merge comes out at the preview's height (480p).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from offload.media.ffmpeg_process import run_ffmpeg

__all__ = ["PREVIEW_SIZE", "fit_picture"]

#: Width and height of every preview (pixels), PeerTube's.
PREVIEW_SIZE = (850, 480)


async def fit_picture(
    ffmpeg_path: str,
    source: Path,
    target: Path,
    size: tuple[int, int] = PREVIEW_SIZE,
    *,
    at_s: float | None = None,
) -> None:
    """Write `target` (JPEG), `source`'s picture (a video's frame at `at_s`) scaled and
    cropped to fill `size`; atomically, through a temp file next to it.

    Raises:
        FfmpegError: ffmpeg could not read `source` or write the picture.
    """
    width, height = size
    fd, tmp = tempfile.mkstemp(prefix=".incoming-", suffix=".jpg", dir=target.parent)
    os.close(fd)
    seek = ["-ss", f"{at_s:.3f}"] if at_s else []
    argv = [
        ffmpeg_path,
        "-nostdin",
        "-v",
        "error",
        "-y",
        *seek,
        "-i",
        str(source),
        "-frames:v",
        "1",
        "-vf",
        f"scale={width}:{height}:force_original_aspect_ratio=increase,crop={width}:{height}",
        "-f",
        "image2",
        "-c:v",
        "mjpeg",
        tmp,
    ]
    try:
        await run_ffmpeg(argv, cwd=target.parent, duration_s=None, on_progress=lambda _: None)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
