"""The VOD transcoding ladder PeerTube builds for an upload (protocol.md §5.8), as pure values.

```
parent: optimize (web video at the original resolution)  |  audio merge (480p, audio uploads)
├── [HLS at the max resolution]                      required
├── [HLS audio only (0p)]                            required, split audio with an audio input
└── per lower resolution r, strictly below the max, enabled, never upscaled:
    [web video r] → [HLS r]                          optional, each waits for the one before
```

Job UUIDs are chosen here (through the injected `new_uuid`) because each payload carries its
own job UUID in the input URLs the runner downloads from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from offload.domain.jobs import JobSpec, JobType

__all__ = [
    "ALL_RESOLUTIONS",
    "AUDIO_MERGE_FPS",
    "AUDIO_MERGE_RESOLUTION",
    "DEFAULT_RESOLUTIONS",
    "OPTIONAL_PRIORITY",
    "REQUIRED_PRIORITY",
    "LadderJob",
    "SourceFile",
    "TranscodingConfig",
    "build_vod_ladder",
    "compute_output_fps",
    "input_file_url",
    "original_resolution",
    "recent_uploads_since",
    "resolutions_to_transcode",
    "to_even",
]

#: Every resolution PeerTube knows (0 is the audio-only rendition).
ALL_RESOLUTIONS = (0, 144, 240, 360, 480, 720, 1080, 1440, 2160)
#: PeerTube's test helper "all resolutions": every video resolution, no 0p.
DEFAULT_RESOLUTIONS = frozenset({144, 240, 360, 480, 720, 1080, 1440, 2160})
#: The order PeerTube creates lower-resolution jobs in (`computeResolutionsToTranscode`).
_CREATION_ORDER = (0, 480, 360, 720, 240, 144, 1080, 1440, 2160)

AUDIO_MERGE_RESOLUTION = 480
AUDIO_MERGE_FPS = 25
#: Priority classes (lower is served first); N, the uploader's recent uploads, is added.
REQUIRED_PRIORITY = 100
OPTIONAL_PRIORITY = 10000
#: How far back an uploader's videos count towards N.
RECENT_UPLOADS_DAYS = 7


def recent_uploads_since(now: datetime) -> datetime:
    """Where N's window starts: midnight seven days before today (UTC; PeerTube uses the
    server's local midnight). The new upload itself falls inside it, so N ≥ 1 for a user."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=RECENT_UPLOADS_DAYS)


@dataclass(frozen=True, slots=True)
class TranscodingConfig:
    """The transcoding switches a ladder depends on (settings overlaid with the custom config)."""

    enabled: bool = True
    resolutions: frozenset[int] = field(default=DEFAULT_RESOLUTIONS)
    web_videos: bool = True
    hls: bool = True
    split_audio: bool = False
    fps_max: int = 60
    always_transcode_original: bool = False


@dataclass(frozen=True, slots=True)
class SourceFile:
    """The uploaded file, as probed: `resolution` is the short side (0 without video)."""

    file_id: int
    resolution: int
    fps: float
    has_audio: bool
    has_video: bool


@dataclass(frozen=True, slots=True)
class LadderJob:
    """One job to create: its UUID (already in its payload URLs), spec and priority class."""

    uuid: str
    spec: JobSpec
    required: bool


def to_even(value: int) -> int:
    """PeerTube's `toEven`: encoders want even dimensions."""
    return value if value % 2 == 0 else value - 1


def resolutions_to_transcode(
    source_resolution: int, config: TranscodingConfig, *, strict_lower: bool, has_audio: bool
) -> list[int]:
    """`computeResolutionsToTranscode` for VOD: enabled resolutions the input can feed, in
    PeerTube's creation order; never above the input (no upscaling)."""
    chosen = []
    for resolution in _CREATION_ORDER:
        if resolution not in config.resolutions or source_resolution < resolution:
            continue
        if strict_lower and resolution == source_resolution:
            continue
        if resolution == 0 and not has_audio:
            continue
        chosen.append(resolution)
    return chosen


def original_resolution(source_resolution: int, config: TranscodingConfig) -> int:
    """`buildOriginalFileResolution`: the optimize job's output resolution."""
    if config.always_transcode_original:
        return to_even(source_resolution)
    candidates = resolutions_to_transcode(
        source_resolution, config, strict_lower=False, has_audio=True
    )
    if not candidates or candidates == [0]:
        return to_even(source_resolution)
    return max(candidates)


def compute_output_fps(input_fps: float, resolution: int, *, is_origin: bool, fps_max: int) -> int:
    """PeerTube's `computeOutputFPS` for VOD (input fps rounded as its probe does)."""
    if resolution == 0:
        return 0
    standard = [v for v in (24, 25, 30) if v <= fps_max] or [fps_max]
    hd_standard = [v for v in (50, 60, fps_max) if v <= fps_max]
    average = min(30, fps_max)
    fps = int(input_fps + 0.5)
    # Small renditions get a standard frame rate that divides the input's, when it is high.
    if not is_origin and resolution < 720 and fps > average:
        fps = _closest_framerate(fps, standard)
    fps = max(fps, 1)
    if not is_origin and fps > fps_max:
        fps = _closest_framerate(fps, hd_standard)
    return fps


def _closest_framerate(fps: int, candidates: list[int]) -> int:
    ordered = sorted(candidates, reverse=True)
    for value in ordered:
        if fps % value == 0:
            return value
    return min(ordered, key=lambda value: fps % value)


def input_file_url(
    public_url: str, job_uuid: str, video_uuid: str, kind: str = "max-quality"
) -> str:
    """The runner-facing input URL (§5): job UUID first, then the video UUID."""
    return f"{public_url}/api/v1/runners/jobs/{job_uuid}/files/videos/{video_uuid}/{kind}"


@dataclass(frozen=True, slots=True)
class _Plan:
    type: JobType
    resolution: int
    fps: int
    parent: int | None
    required: bool
    separated_audio: bool = False
    delete_web_video_files: bool = False
    delete_input_file_id: int | None = None


def build_vod_ladder(
    source: SourceFile,
    config: TranscodingConfig,
    *,
    video_uuid: str,
    public_url: str,
    new_uuid: Callable[[], str],
    is_new_video: bool = True,
    recent_uploads: int = 0,
) -> list[LadderJob]:
    """The jobs for a new upload, parent first; children name their parent by batch index.

    Returns an empty list when transcoding is off (the video is published as uploaded).
    """
    if not config.enabled:
        return []
    plans = _plan(source, config)
    uuids = [new_uuid() for _ in plans]
    has_children = len(plans) > 1
    jobs = []
    for index, (plan, job_uuid) in enumerate(zip(plans, uuids, strict=True)):
        can_move = True if index > 0 else not has_children
        priority = (REQUIRED_PRIORITY if plan.required else OPTIONAL_PRIORITY) + recent_uploads
        payload, private = _payloads(plan, job_uuid, video_uuid, public_url, is_new_video, can_move)
        jobs.append(
            LadderJob(
                job_uuid,
                JobSpec(plan.type, payload, private, priority, parent=plan.parent),
                plan.required,
            )
        )
    return jobs


def _plan(source: SourceFile, config: TranscodingConfig) -> list[_Plan]:
    if not source.has_video:
        max_resolution = AUDIO_MERGE_RESOLUTION
        max_fps = min(AUDIO_MERGE_FPS, config.fps_max)
        plans = [
            _Plan(
                JobType.VOD_AUDIO_MERGE,
                max_resolution,
                max_fps,
                None,
                True,
                delete_input_file_id=source.file_id,
            )
        ]
    else:
        max_resolution = original_resolution(source.resolution, config)
        max_fps = compute_output_fps(
            source.fps, max_resolution, is_origin=True, fps_max=config.fps_max
        )
        plans = [
            _Plan(
                JobType.VOD_WEB_VIDEO,
                max_resolution,
                max_fps,
                None,
                True,
                delete_input_file_id=source.file_id,
            )
        ]
    split = config.split_audio and source.has_audio
    audio_hls_done = False
    if config.hls:
        plans.append(
            _Plan(JobType.VOD_HLS, max_resolution, max_fps, 0, True, split, not config.web_videos)
        )
        if split:
            audio_hls_done = True
            plans.append(_Plan(JobType.VOD_HLS, 0, 0, 0, True, split, not config.web_videos))
    for resolution in resolutions_to_transcode(
        max_resolution, config, strict_lower=True, has_audio=source.has_audio
    ):
        fps = compute_output_fps(
            max_fps, resolution, is_origin=resolution == max_resolution, fps_max=config.fps_max
        )
        parent = 0
        if config.web_videos:
            plans.append(_Plan(JobType.VOD_WEB_VIDEO, resolution, fps, parent, False))
            parent = len(plans) - 1
        if config.hls and not (resolution == 0 and audio_hls_done):
            plans.append(_Plan(JobType.VOD_HLS, resolution, fps, parent, False, split))
    return plans


def _payloads(
    plan: _Plan, job_uuid: str, video_uuid: str, public_url: str, is_new_video: bool, can_move: bool
) -> tuple[dict[str, object], dict[str, object]]:
    def url(kind: str) -> str:
        return input_file_url(public_url, job_uuid, video_uuid, kind)

    if plan.type is JobType.VOD_AUDIO_MERGE:
        payload: dict[str, object] = {
            "input": {
                "audioFileUrl": url("max-quality"),
                "previewFileUrl": url("previews/max-quality"),
            },
            "output": {"resolution": plan.resolution, "fps": plan.fps},
        }
        private: dict[str, object] = {
            "videoUUID": video_uuid,
            "isNewVideo": is_new_video,
            "deleteInputFileId": plan.delete_input_file_id,
            "canMoveVideoState": can_move,
        }
        return payload, private
    # The audio-only rendition reads the audio file; the split-audio input list starts empty
    # because a fresh upload has no separate audio file yet.
    video_input = {
        "videoFileUrl": url("max-quality/audio" if plan.resolution == 0 else "max-quality"),
        "separatedAudioFileUrl": [],
    }
    if plan.type is JobType.VOD_WEB_VIDEO:
        payload = {"input": video_input, "output": {"resolution": plan.resolution, "fps": plan.fps}}
        private = {
            "videoUUID": video_uuid,
            "isNewVideo": is_new_video,
            "deleteInputFileId": plan.delete_input_file_id,
            "canMoveVideoState": can_move,
        }
        return payload, private
    payload = {
        "input": video_input,
        "output": {
            "resolution": plan.resolution,
            "fps": plan.fps,
            "separatedAudio": plan.separated_audio,
        },
    }
    private = {
        "videoUUID": video_uuid,
        "isNewVideo": is_new_video,
        "deleteWebVideoFiles": plan.delete_web_video_files,
        "canMoveVideoState": can_move,
    }
    return payload, private
