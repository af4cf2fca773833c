"""JSON shapes of PeerTube's video-side models: `Video`, `VideoDetails`, `VideoFile`,
`VideoStreamingPlaylist`, `VideoChannel`, `Account`, `User`, and the video constants.

Field names are PeerTube's (`packages/models/src/videos/*.model.ts`, `support/doc/api/openapi.yaml`).
What this instance has no notion of carries PeerTube's neutral value: no description, tags,
category, licence or language (`null` / `[]`), no views or likes (0), comments and downloads
enabled, not NSFW, no avatars or banners, no followers, every video public and local.

Each user has one channel, their default one: PeerTube's `<username>_channel`, whose id is the
user's id (as the account's). A video's torrent is made from its file on request and seeds from
that file's URL (a web seed); the magnet link names the torrent file (`xs`) and that web seed,
without an info hash, which would mean hashing every file on every read.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlparse

from offload.domain.languages import LANGUAGES
from offload.domain.videos import Video, VideoFile
from offload.http.wire import iso
from offload.media.playlists import MASTER_PLAYLIST

__all__ = [
    "CATEGORIES",
    "LANGUAGES",
    "LICENCES",
    "PRIVACIES",
    "PRIVACY_PUBLIC",
    "account_to_wire",
    "channel_name",
    "channel_to_wire",
    "file_to_wire",
    "video_to_wire",
]

#: PeerTube's `VIDEO_CATEGORIES` (server/core/initializers/constants.ts).
CATEGORIES = {
    1: "Music", 2: "Films", 3: "Vehicles", 4: "Art", 5: "Sports", 6: "Travels", 7: "Gaming", 8: "People",
    9: "Comedy", 10: "Entertainment", 11: "News & Politics", 12: "How To", 13: "Education", 14: "Activism",
    15: "Science & Technology", 16: "Animals", 17: "Kids", 18: "Food",
}  # fmt: skip
#: PeerTube's `VIDEO_LICENCES`.
LICENCES = {
    1: "Attribution", 2: "Attribution - Share Alike", 3: "Attribution - No Derivatives",
    4: "Attribution - Non Commercial", 5: "Attribution - Non Commercial - Share Alike",
    6: "Attribution - Non Commercial - No Derivatives", 7: "Public Domain Dedication",
}  # fmt: skip
#: PeerTube's `VIDEO_PRIVACIES`.
PRIVACIES = {1: "Public", 2: "Unlisted", 3: "Private", 4: "Internal", 5: "Password protected"}
PRIVACY_PUBLIC = 1


def _constant(value: Any, label: str) -> dict[str, Any]:
    return {"id": value, "label": label}


def _resolution(value: int) -> dict[str, Any]:
    return _constant(value, "Audio only" if value == 0 else f"{value}p")


def _host(public_url: str) -> str:
    return urlparse(public_url).netloc


def channel_name(username: str) -> str:
    """The name PeerTube gives a user's default channel."""
    return f"{username}_channel"


def account_to_wire(
    user_id: int, username: str, public_url: str, *, created_at: str | None = None
) -> dict[str, Any]:
    """PeerTube's `Account` (a summary's fields plus the actor's)."""
    return {
        "id": user_id,
        "name": username,
        "displayName": username,
        "url": f"{public_url}/accounts/{quote(username)}",
        "host": _host(public_url),
        "avatars": [],
        "description": None,
        "userId": user_id,
        "followersCount": 0,
        "followingCount": 0,
        "createdAt": created_at,
        "updatedAt": created_at,
    }


def channel_to_wire(
    user_id: int, username: str, public_url: str, *, created_at: str | None = None
) -> dict[str, Any]:
    """PeerTube's `VideoChannel`: the user's default channel, with its owner account."""
    name = channel_name(username)
    return {
        "id": user_id,
        "name": name,
        "displayName": f"Main {username} channel",
        "url": f"{public_url}/video-channels/{quote(name)}",
        "host": _host(public_url),
        "avatars": [],
        "banners": [],
        "description": None,
        "support": None,
        "isLocal": True,
        "followersCount": 0,
        "followingCount": 0,
        "createdAt": created_at,
        "updatedAt": created_at,
        "ownerAccount": account_to_wire(user_id, username, public_url, created_at=created_at),
    }


def _summary(full: dict[str, Any]) -> dict[str, Any]:
    return {k: full[k] for k in ("id", "name", "displayName", "url", "host", "avatars")}


def _torrent_url(file: VideoFile, video: Video, public_url: str) -> str:
    if file.kind == "hls":
        return f"{public_url}/lazy-static/torrents/hls/{video.uuid}/{file.filename}.torrent"
    return f"{public_url}/lazy-static/torrents/{file.filename}.torrent"


def file_to_wire(file: VideoFile, video: Video, public_url: str) -> dict[str, Any]:
    """PeerTube's `VideoFile`."""
    if file.kind == "hls":
        base = f"{public_url}/static/streaming-playlists/hls/{video.uuid}"
        url = f"{base}/{file.filename}"
    else:
        base = ""
        url = f"{public_url}/static/web-videos/{file.filename}"
    torrent = _torrent_url(file, video, public_url)
    body: dict[str, Any] = {
        "id": file.id,
        "resolution": _resolution(file.resolution),
        "size": file.size,
        "fps": file.fps,
        "width": file.width,
        "height": file.height,
        "hasAudio": file.has_audio,
        "hasVideo": file.has_video,
        "codecs": file.codecs,
        "storage": 0,  # FileStorage.FILE_SYSTEM
        "fileUrl": url,
        "fileDownloadUrl": url,
        "torrentUrl": torrent,
        "torrentDownloadUrl": torrent,
        "magnetUri": f"magnet:?xs={quote(torrent, safe='')}&dn={quote(video.name, safe='')}&ws={quote(url, safe='')}",
        "metadataUrl": None,
    }
    if file.kind == "hls":
        body["playlistUrl"] = f"{base}/{file.playlist_filename}"
    return body


def video_to_wire(
    video: Video, public_url: str, files: list[VideoFile] | None = None
) -> dict[str, Any]:
    """PeerTube's `Video`; with `files`, its `VideoDetails` (files, playlists, full channel)."""
    preview = f"/lazy-static/previews/{video.preview_filename}" if video.preview_filename else None
    owner_id = video.owner_id or 0
    owner_name = video.owner_name or "root"
    channel = channel_to_wire(owner_id, owner_name, public_url)
    account = channel["ownerAccount"]
    body: dict[str, Any] = {
        "id": video.id,
        "uuid": video.uuid,
        "shortUUID": video.short_uuid,
        "url": f"{public_url}/videos/watch/{video.uuid}",
        "embedPath": f"/videos/embed/{video.uuid}",
        "name": video.name,
        "category": _constant(None, "Unknown"),
        "licence": _constant(None, "Unknown"),
        "language": _constant(None, "Unknown"),
        "privacy": _constant(PRIVACY_PUBLIC, PRIVACIES[PRIVACY_PUBLIC]),
        "description": None,
        "truncatedDescription": None,
        "duration": round(video.duration_s or 0),
        "aspectRatio": None,
        "isLocal": True,
        "isLive": False,
        "nsfw": False,
        "waitTranscoding": True,
        "state": video.state.to_wire(),
        "views": 0,
        "viewers": 0,
        "likes": 0,
        "dislikes": 0,
        "comments": 0,
        "previewPath": preview,
        "thumbnailPath": preview,
        "createdAt": iso(video.created_at),
        "updatedAt": iso(video.updated_at),
        "publishedAt": iso(video.published_at) if video.published_at else None,
        "originallyPublishedAt": None,
        "account": _summary(account),
        "channel": _summary(channel),
    }
    if files is None:
        return body
    by_quality = sorted(files, key=lambda f: (-f.resolution, -f.fps, f.id))
    hls = [file_to_wire(f, video, public_url) for f in by_quality if f.kind == "hls"]
    playlist_base = f"{public_url}/static/streaming-playlists/hls/{video.uuid}"
    body.update(
        {
            "descriptionPath": None,
            "support": None,
            "tags": [],
            "commentsEnabled": True,
            "commentsPolicy": _constant(1, "Enabled"),
            "downloadEnabled": True,
            "trackerUrls": [],
            "inputFileUpdatedAt": None,
            "account": account,
            "channel": channel,
            "files": [file_to_wire(f, video, public_url) for f in by_quality if f.kind == "web"],
            "streamingPlaylists": (
                [
                    {
                        "id": video.id,
                        "type": 1,
                        "playlistUrl": f"{playlist_base}/{MASTER_PLAYLIST}",
                        "segmentsSha256Url": None,
                        "redundancies": [],
                        "files": hls,
                    }
                ]
                if hls
                else []
            ),
        }
    )
    return body
