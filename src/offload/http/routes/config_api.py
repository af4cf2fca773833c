"""PeerTube's configuration API: the public `ServerConfig` and `About` (what clients read before
uploading), and the custom configuration, for the keys this instance honours (admin only).

The public config carries PeerTube's neutral values for what this instance has no notion of:
signup closed, no plugins, themes, federation, live, imports or search.

`PUT` takes a partial or a whole PeerTube custom config: unknown keys are ignored, known keys
are checked; the answer is the new effective configuration. Changes apply to jobs created
afterwards.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from offload import __version__
from offload.http.deps import AdminUser, ServicesDep
from offload.http.errors import BadParams
from offload.instance.media import media_of

__all__ = ["router"]

router = APIRouter(prefix="/api/v1/config", tags=["config"])


#: What an upload may be (PeerTube's `CONSTRAINTS_FIELDS.VIDEOS.EXTNAME`, images' `IMAGE.EXTNAME`).
_VIDEO_EXTENSIONS = [".mp4", ".ogv", ".webm", ".mkv", ".mov", ".qt", ".mqv", ".m4v", ".flv", ".f4v", ".wmv", ".avi", ".3gp", ".3gpp", ".3g2", ".3gpp2", ".nut", ".mts", ".m2ts", ".mpv", ".m2v", ".m1v", ".mpg", ".mpe", ".mpeg", ".vob", ".mxf", ".mp3", ".wma", ".wav", ".flac", ".aac", ".m4a", ".ac3"]  # fmt: skip
_IMAGE_EXTENSIONS = [".png", ".jpg", ".jpeg", ".webp"]


@router.get("")
async def server_config(services: ServicesDep) -> dict[str, Any]:
    """PeerTube's `ServerConfig`, the parts clients read."""
    media = media_of(services)
    config = await media.config.current()
    transcoding = config.transcoding
    limits = media.videos.limits
    return {
        "serverVersion": __version__,
        "serverCommit": None,
        "instance": {
            "name": "Offload",
            "shortDescription": "",
            "isNSFW": False,
            "defaultNSFWPolicy": "display",
            "defaultClientRoute": "/videos/browse",
            "customizations": {"javascript": "", "css": ""},
        },
        "signup": {
            "allowed": False,
            "allowedForCurrentIP": False,
            "requiresEmailVerification": False,
            "requiresApproval": False,
            "minimumAge": 16,
        },
        "transcoding": {
            "hls": {"enabled": transcoding.hls},
            "web_videos": {"enabled": transcoding.web_videos},
            "enabledResolutions": sorted(transcoding.resolutions),
            "remoteRunners": {"enabled": config.remote_vod},
        },
        "live": {"enabled": False},
        "videoStudio": {
            "enabled": config.studio,
            "enableIntroAndOutroFiles": True,
            "remoteRunners": {"enabled": config.remote_studio},
        },
        "videoTranscription": {
            "enabled": config.transcription,
            "remoteRunners": {"enabled": config.remote_transcription},
        },
        "import": {
            "videos": {"http": {"enabled": False}, "torrent": {"enabled": False}},
            "videoChannelSynchronization": {"enabled": False},
        },
        "plugin": {"registered": [], "registeredExternalAuths": [], "registeredIdAndPassAuths": []},
        "theme": {"registered": [], "default": "default"},
        "federation": {"enabled": False},
        "video": {
            "image": {"extensions": _IMAGE_EXTENSIONS, "size": {"max": 8 * 1024 * 1024}},
            "file": {"extensions": _VIDEO_EXTENSIONS},
        },
        "videoCaption": {
            "file": {"extensions": [".vtt", ".srt"], "size": {"max": 20 * 1024 * 1024}}
        },
        "user": {
            "videoQuota": limits.default_video_quota,
            "videoQuotaDaily": limits.default_video_quota_daily,
        },
        "videoChannels": {"maxPerUser": 1},
        "trending": {
            "videos": {"intervalDays": 7, "algorithms": {"enabled": [], "default": "most-viewed"}}
        },
        "search": {
            "remoteUri": {"users": False, "anonymous": False},
            "searchIndex": {"enabled": False},
        },
        "homepage": {"enabled": False},
    }


@router.get("/about")
async def about() -> dict[str, Any]:
    """PeerTube's `About`: this instance says nothing about itself beyond its name."""
    return {
        "instance": {
            "name": "Offload", "shortDescription": "", "description": "", "terms": "", "codeOfConduct": "", "hardwareInformation": "",
            "creationReason": "", "moderationInformation": "", "administrator": "", "maintenanceLifetime": "", "businessModel": "",
            "languages": [], "categories": [], "avatars": [], "banners": [],
        }
    }  # fmt: skip


@router.get("/custom")
async def get_custom_config(_: AdminUser, services: ServicesDep) -> dict[str, Any]:
    return (await media_of(services).config.current()).to_wire()


@router.put("/custom")
async def put_custom_config(
    request: Request, _: AdminUser, services: ServicesDep
) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        raise BadParams("body", messages={"body": "a JSON object is expected"}) from exc
    if not isinstance(body, dict):
        raise BadParams("body", messages={"body": "a JSON object is expected"})
    return (await media_of(services).config.update(body)).to_wire()


@router.delete("/custom")
async def delete_custom_config(_: AdminUser, services: ServicesDep) -> dict[str, Any]:
    return (await media_of(services).config.reset()).to_wire()
