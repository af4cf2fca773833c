"""Public media: web videos, HLS directories, previews; Range requests, exact MIME types, CORS.

Paths are PeerTube's, so players and tools built for it find the files:
`/static/web-videos/<file>`, `/static/streaming-playlists/hls/<video uuid>/<file>` (VOD and live
renditions alike) and `/lazy-static/previews/<file>`, `/lazy-static/storyboards/<file>`; and each file's torrent, `/lazy-static/torrents/[hls/<video uuid>/]<file>.torrent`.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from fastapi import APIRouter, Response
from fastapi.responses import FileResponse

from offload.domain.errors import NotFound
from offload.http.deps import ServicesDep
from offload.instance.media import media_of
from offload.media.storage import mime_type
from offload.media.torrents import make_torrent

__all__ = ["router"]

# Out of the OpenAPI document: files for players, not API (and a GET+HEAD route would give
# FastAPI two operations with one operationId).
router = APIRouter(tags=["static"])

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_CORS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
    "Access-Control-Allow-Headers": "Range",
    "Access-Control-Expose-Headers": "Content-Length, Content-Range, Accept-Ranges",
}


class StaticFileNotFound(NotFound):
    """File not found"""


def _serve(directory: Path, filename: str) -> FileResponse:
    if not _NAME_RE.match(filename) or ".." in filename:
        raise StaticFileNotFound()
    path = directory / filename
    if not path.is_file():
        raise StaticFileNotFound()
    # Playlists change in place (master, live renditions); media files get new names instead.
    cache = "no-cache" if filename.endswith(".m3u8") else "public, max-age=3600"
    return FileResponse(
        path, media_type=mime_type(filename), headers={**_CORS, "Cache-Control": cache}
    )


def _preflight() -> Response:
    return Response(status_code=204, headers=_CORS)


@router.api_route("/static/web-videos/{filename}", methods=["GET", "HEAD"], include_in_schema=False)
async def web_video(filename: str, services: ServicesDep) -> FileResponse:
    return _serve(media_of(services).storage.web_dir, filename)


@router.api_route(
    "/static/streaming-playlists/hls/{videoUUID}/{filename}",
    methods=["GET", "HEAD"],
    include_in_schema=False,
)
async def hls_file(videoUUID: str, filename: str, services: ServicesDep) -> FileResponse:
    if not _NAME_RE.match(videoUUID):
        raise StaticFileNotFound()
    return _serve(media_of(services).storage.hls_dir(videoUUID), filename)


@router.api_route(
    "/lazy-static/previews/{filename}", methods=["GET", "HEAD"], include_in_schema=False
)
async def preview(filename: str, services: ServicesDep) -> FileResponse:
    return _serve(media_of(services).storage.previews_dir, filename)


@router.api_route(
    "/lazy-static/storyboards/{filename}", methods=["GET", "HEAD"], include_in_schema=False
)
async def storyboard(filename: str, services: ServicesDep) -> FileResponse:
    return _serve(media_of(services).storage.storyboards_dir, filename)


@router.api_route(
    "/lazy-static/video-captions/{filename}", methods=["GET", "HEAD"], include_in_schema=False
)
async def video_caption(filename: str, services: ServicesDep) -> FileResponse:
    return _serve(media_of(services).storage.captions_dir, filename)


def _torrent(directory: Path, filename: str, web_seed: str) -> Response:
    stem = filename.removesuffix(".torrent")
    if (
        stem == filename
        or not _NAME_RE.match(stem)
        or ".." in stem
        or not (directory / stem).is_file()
    ):
        raise StaticFileNotFound()
    return Response(
        make_torrent(directory / stem, name=stem, web_seed=web_seed),
        media_type="application/x-bittorrent",
        headers=_CORS,
    )


@router.get("/lazy-static/torrents/{filename}", include_in_schema=False)
async def web_video_torrent(filename: str, services: ServicesDep) -> Response:
    media = media_of(services)
    seed = f"{media.videos.public_url}/static/web-videos/{filename.removesuffix('.torrent')}"
    return await asyncio.to_thread(_torrent, media.storage.web_dir, filename, seed)


@router.get("/lazy-static/torrents/hls/{videoUUID}/{filename}", include_in_schema=False)
async def hls_torrent(videoUUID: str, filename: str, services: ServicesDep) -> Response:
    if not _NAME_RE.match(videoUUID):
        raise StaticFileNotFound()
    media = media_of(services)
    seed = f"{media.videos.public_url}/static/streaming-playlists/hls/{videoUUID}/{filename.removesuffix('.torrent')}"
    return await asyncio.to_thread(_torrent, media.storage.hls_dir(videoUUID), filename, seed)


@router.options("/static/web-videos/{filename}")
@router.options("/static/streaming-playlists/hls/{videoUUID}/{filename}")
@router.options("/lazy-static/previews/{filename}")
async def preflight() -> Response:
    return _preflight()
