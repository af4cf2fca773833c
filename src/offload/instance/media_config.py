"""The runtime-editable part of the configuration: PeerTube's custom-config keys we support.

The settings file gives the initial values; `PUT /api/v1/config/custom` stores overrides in
`instance_config`. Readers ask `current()` each time they create jobs, so a change applies to
jobs created afterwards and never to jobs already queued (PeerTube's rule).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from offload.domain.errors import InvalidInput
from offload.domain.ladder import ALL_RESOLUTIONS, TranscodingConfig
from offload.settings import InstanceSettings
from offload.store.accounts import ConfigRepository
from offload.store.database import Database

__all__ = ["CONFIG_KEY", "ConfigService", "InstanceConfig", "from_wire", "merge_update"]

CONFIG_KEY = "custom-config"


@dataclass(frozen=True, slots=True)
class InstanceConfig:
    """The effective runtime configuration."""

    transcoding: TranscodingConfig
    remote_vod: bool
    remote_studio: bool
    remote_live: bool
    remote_transcription: bool
    remote_storyboard: bool
    storyboards: bool = True
    studio: bool = True
    transcription: bool = False

    def to_wire(self) -> dict[str, Any]:
        """PeerTube's custom-config shape, limited to the keys this instance honours."""
        t = self.transcoding
        return {
            "transcoding": {
                "enabled": t.enabled,
                "remoteRunners": {"enabled": self.remote_vod},
                "alwaysTranscodeOriginalResolution": t.always_transcode_original,
                "fps": {"max": t.fps_max},
                "resolutions": {_label(r): r in t.resolutions for r in ALL_RESOLUTIONS},
                "webVideos": {"enabled": t.web_videos},
                "hls": {"enabled": t.hls, "splitAudioAndVideo": t.split_audio},
            },
            "live": {"transcoding": {"remoteRunners": {"enabled": self.remote_live}}},
            "videoStudio": {
                "enabled": self.studio,
                "remoteRunners": {"enabled": self.remote_studio},
            },
            "videoTranscription": {
                "enabled": self.transcription,
                "remoteRunners": {"enabled": self.remote_transcription},
            },
            "storyboards": {
                "enabled": self.storyboards,
                "remoteRunners": {"enabled": self.remote_storyboard},
            },
        }


def _label(resolution: int) -> str:
    return f"{resolution}p"


def _defaults(settings: InstanceSettings) -> InstanceConfig:
    return InstanceConfig(
        transcoding=TranscodingConfig(
            enabled=settings.transcoding_enabled,
            resolutions=frozenset(settings.transcoding_resolutions),
            web_videos=settings.transcoding_web_videos,
            hls=settings.transcoding_hls,
            split_audio=settings.transcoding_split_audio,
            fps_max=settings.transcoding_fps_max,
            always_transcode_original=settings.transcoding_always_transcode_original,
        ),
        remote_vod=settings.remote_vod,
        remote_studio=settings.remote_studio,
        remote_live=settings.remote_live,
        remote_transcription=settings.remote_transcription,
        remote_storyboard=settings.remote_storyboard,
        storyboards=settings.storyboards_enabled,
        studio=settings.studio_enabled,
        transcription=settings.transcription_enabled,
    )


#: (path in the wire object, kind) of every key a PUT may set.
_BOOL_KEYS = (
    ("transcoding", "enabled"),
    ("transcoding", "remoteRunners", "enabled"),
    ("transcoding", "alwaysTranscodeOriginalResolution"),
    ("transcoding", "webVideos", "enabled"),
    ("transcoding", "hls", "enabled"),
    ("transcoding", "hls", "splitAudioAndVideo"),
    ("live", "transcoding", "remoteRunners", "enabled"),
    ("videoStudio", "enabled"),
    ("videoStudio", "remoteRunners", "enabled"),
    ("videoTranscription", "enabled"),
    ("videoTranscription", "remoteRunners", "enabled"),
    ("storyboards", "enabled"),
    ("storyboards", "remoteRunners", "enabled"),
)


def _get(tree: Mapping[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = tree
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def _set(tree: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = value


def merge_update(current: dict[str, Any], body: Mapping[str, Any]) -> dict[str, Any]:
    """Apply the supported keys of a custom-config body to `current` (wire shape).

    Keys this instance does not know are ignored, as a PeerTube admin client sends the whole
    configuration. Known keys with a wrong type are refused.

    Raises:
        InvalidInput: naming the first bad key.
    """
    merged = copy.deepcopy(current)
    for path in {
        p[:i] for p in (*_BOOL_KEYS, ("transcoding", "fps", "max")) for i in range(1, len(p))
    }:
        section = _get(body, path)
        if section is not None and not isinstance(section, Mapping):
            raise InvalidInput(f"{'.'.join(path)} must be an object")
    for path in _BOOL_KEYS:
        value = _get(body, path)
        if value is None:
            continue
        if not isinstance(value, bool):
            raise InvalidInput(f"{'.'.join(path)} must be a boolean")
        _set(merged, path, value)
    fps_max = _get(body, ("transcoding", "fps", "max"))
    if fps_max is not None:
        if isinstance(fps_max, bool) or not isinstance(fps_max, int) or not 1 <= fps_max <= 1000:
            raise InvalidInput("transcoding.fps.max must be an integer between 1 and 1000")
        _set(merged, ("transcoding", "fps", "max"), fps_max)
    resolutions = _get(body, ("transcoding", "resolutions"))
    if resolutions is not None:
        if not isinstance(resolutions, Mapping):
            raise InvalidInput("transcoding.resolutions must be an object")
        known = {_label(r) for r in ALL_RESOLUTIONS}
        for label, enabled in resolutions.items():
            if label not in known or not isinstance(enabled, bool):
                raise InvalidInput(
                    f"transcoding.resolutions.{label} is not a known resolution switch"
                )
            _set(merged, ("transcoding", "resolutions", label), enabled)
    transcoding = merged["transcoding"]
    if (
        transcoding["enabled"]
        and not transcoding["webVideos"]["enabled"]
        and not transcoding["hls"]["enabled"]
    ):
        raise InvalidInput("You need to enable at least web_videos transcoding or hls transcoding")
    return merged


def from_wire(tree: Mapping[str, Any]) -> InstanceConfig:
    t = tree["transcoding"]
    return InstanceConfig(
        transcoding=TranscodingConfig(
            enabled=t["enabled"],
            resolutions=frozenset(r for r in ALL_RESOLUTIONS if t["resolutions"].get(_label(r))),
            web_videos=t["webVideos"]["enabled"],
            hls=t["hls"]["enabled"],
            split_audio=t["hls"]["splitAudioAndVideo"],
            fps_max=t["fps"]["max"],
            always_transcode_original=t["alwaysTranscodeOriginalResolution"],
        ),
        remote_vod=t["remoteRunners"]["enabled"],
        remote_studio=tree["videoStudio"]["remoteRunners"]["enabled"],
        remote_live=tree["live"]["transcoding"]["remoteRunners"]["enabled"],
        remote_transcription=tree["videoTranscription"]["remoteRunners"]["enabled"],
        remote_storyboard=tree["storyboards"]["remoteRunners"]["enabled"],
        storyboards=tree["storyboards"]["enabled"],
        studio=tree["videoStudio"]["enabled"],
        transcription=tree["videoTranscription"]["enabled"],
    )


class ConfigService:
    """Reads and edits the runtime configuration (settings overlaid with stored overrides)."""

    def __init__(self, db: Database, settings: InstanceSettings) -> None:
        self.db = db
        self.defaults = _defaults(settings)
        self.repo = ConfigRepository()

    async def current(self) -> InstanceConfig:
        async with self.db.read() as conn:
            stored = await self.repo.get(conn, CONFIG_KEY)
        if not stored:
            return self.defaults
        # Stored values sit on top of the settings, so a key added later keeps its default.
        return from_wire(merge_update(self.defaults.to_wire(), stored))

    async def update(self, body: Mapping[str, Any]) -> InstanceConfig:
        """Validate and store a custom-config body; returns the new effective configuration."""
        async with self.db.write() as conn:
            stored = await self.repo.get(conn, CONFIG_KEY) or {}
            base = merge_update(self.defaults.to_wire(), stored)
            merged = merge_update(base, body)
            await self.repo.put(conn, CONFIG_KEY, merged)
        return from_wire(merged)

    async def reset(self) -> InstanceConfig:
        """Forget every override: back to the settings file (PeerTube's DELETE)."""
        async with self.db.write() as conn:
            await self.repo.put(conn, CONFIG_KEY, {})
        return self.defaults
