"""ffmpeg argument lists of the studio edits (`video-studio-transcoding`, runner.md §3.4), as pure
functions, in the official runner's order (`ffmpeg-edition.ts` through fluent-ffmpeg): inputs,
`-y`, `-filter_complex`, the VOD preset at the input's own resolution and frame rate
(`studio_preset`), the edit's own output options, the output path.

Every edit re-encodes. The frame rate is kept with an `fps` filter: as `-vf` for a cut, as the
last node of the graph for the others (ffmpeg refuses `-vf` on a stream fed by a graph).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from offload.media.errors import MediaError
from offload.media.ffmpeg import FfmpegOptions, rounded_fps, studio_preset
from offload.media.probe import MediaInfo

__all__ = [
    "EditInput",
    "cut_args",
    "intro_outro_args",
    "kept_intervals",
    "remove_segments_args",
    "watermark_args",
]


@dataclass(frozen=True, slots=True)
class EditInput:
    """The video an edit starts from: the file, its probe, and the separately stored audio (with
    its probe) that only the first edit of a job gets."""

    video: Path
    video_info: MediaInfo
    audio: Path | None = None
    audio_info: MediaInfo | None = None

    @property
    def inputs(self) -> list[str]:
        """`-i` of the video, then of the separate audio: PeerTube's `buildInputs`."""
        audio = ["-i", str(self.audio)] if self.audio is not None else []
        return ["-i", str(self.video), *audio]

    @property
    def input_count(self) -> int:
        return 2 if self.audio is not None else 1

    @property
    def has_audio(self) -> bool:
        source = self.audio_info or self.video_info
        return source.has_audio

    @property
    def audio_label(self) -> str:
        """The graph label of the sound: the separate audio's, else the video's own."""
        return "[1:a]" if self.audio is not None else "[0:a]"

    @property
    def fps(self) -> int:
        return rounded_fps(self.video_info)


def _number(value: float) -> str:
    return f"{value:.6g}" if value != int(value) else str(int(value))


def cut_args(
    source: EditInput, output: Path, start: float | None, end: float | None, options: FfmpegOptions
) -> list[str]:
    """`cut`: re-encode both streams, output-side `-ss`/`-to` (accurate: decoded from the start).

    As upstream, a start or end of 0 is no bound."""
    preset = studio_preset(
        video_info=source.video_info,
        audio_info=source.audio_info,
        fps=source.fps,
        options=options,
        can_copy_audio=False,
        video_filters=[f"fps=fps={source.fps}"],
    )
    bounds = (["-ss", _number(start)] if start else []) + (["-to", _number(end)] if end else [])
    return [*source.inputs, "-y", *preset, *bounds, str(output)]


def watermark_args(
    source: EditInput,
    watermark: Path,
    output: Path,
    *,
    size_ratio: float,
    horizontal_margin_ratio: float,
    vertical_margin_ratio: float,
    options: FfmpegOptions,
) -> list[str]:
    """`add-watermark`: the image (last input) scaled to `size_ratio` of the video's height,
    overlaid in the top-right corner with margins proportional to the video's height."""
    assert source.video_info.video is not None
    height = max(1, math.ceil(source.video_info.video.height * size_ratio))
    graph = ";".join(
        [
            f"[{source.input_count}]scale=w=-1:h={height}[v_watermark]",
            "[0][v_watermark]overlay="
            f"x=main_w - overlay_w - (main_h * {_number(horizontal_margin_ratio)})"
            f":y=main_h * {_number(vertical_margin_ratio)}[v_overlay]",
            f"[v_overlay]fps=fps={source.fps}",
        ]
    )
    preset = studio_preset(
        video_info=source.video_info,
        audio_info=source.audio_info,
        fps=source.fps,
        options=options,
        can_copy_audio=True,
        video_filters=[],
    )
    return [
        *source.inputs,
        "-i",
        str(watermark),
        "-y",
        "-filter_complex",
        graph,
        *preset,
        str(output),
    ]


def intro_outro_args(
    source: EditInput,
    clip: Path,
    clip_info: MediaInfo,
    output: Path,
    *,
    outro: bool,
    options: FfmpegOptions,
) -> list[str]:
    """`add-intro` / `add-outro`: the clip fitted into a black canvas of the video's size
    (centred, aspect kept, spline scaling), concatenated before or after it. A clip without sound gets silence
    (`anullsrc` for its duration) when the video has sound; a silent video maps no audio."""
    clip_index = source.input_count
    inputs = [*source.inputs, "-i", str(clip)]
    with_audio = source.has_audio
    silence_index = clip_index + 1
    if with_audio and not clip_info.has_audio:
        inputs += ["-f", "lavfi", "-t", _number(_clip_duration(clip, clip_info)), "-i", "anullsrc"]
    assert source.video_info.video is not None
    width, height = source.video_info.video.width, source.video_info.video.height
    # Upstream builds the black canvas with three scale2ref steps; with ffmpeg 9 scale2ref fits
    # against the reference's aspect and keeps the clip's in the sample aspect, so the clip comes
    # out stretched over the whole picture and the result carries the clip's display aspect.
    # Scaling to the probed size and padding with black gives the picture upstream means.
    canvas = [
        f"[{clip_index}:v]scale=w={width}:h={height}:force_original_aspect_ratio=decrease"
        f":flags=spline,pad={width}:{height}:(ow-iw)/2:(oh-ih)/2:color=black,setsar=1"
        "[intro_outro_resized]",
    ]
    clip_pads, main_pads = ["[intro_outro_resized]"], ["[0:v]"]
    if with_audio:
        main_pads.append(source.audio_label)
        clip_pads.append(f"[{clip_index}:a]" if clip_info.has_audio else f"[{silence_index}:a]")
    pads = [*main_pads, *clip_pads] if outro else [*clip_pads, *main_pads]
    outputs = "[v_concat][a_out]" if with_audio else "[v_concat]"
    graph = ";".join(
        [
            *canvas,
            f"{''.join(pads)}concat=n=2:v=1:a={int(with_audio)}:unsafe=1{outputs}",
            f"[v_concat]fps=fps={source.fps}[v_out]",
        ]
    )
    preset = studio_preset(
        video_info=source.video_info,
        audio_info=source.audio_info,
        fps=source.fps,
        options=options,
        can_copy_audio=False,
        video_filters=[],
    )
    maps = ["-map", "[v_out]", *(["-map", "[a_out]"] if with_audio else [])]
    return [*inputs, "-y", "-filter_complex", graph, *preset, *maps, str(output)]


def _clip_duration(clip: Path, info: MediaInfo) -> float:
    if not info.duration_s:
        raise MediaError(f"{clip.name}: the intro/outro clip has no known duration")
    return info.duration_s


def kept_intervals(
    segments: list[tuple[float, float]], duration_s: float
) -> list[tuple[float, float]]:
    """What `remove-segments` keeps: the complement of the (sorted, merged) segments within the
    video's duration rounded to whole seconds, as PeerTube counts it. Empty intervals are dropped.
    """
    total = math.floor(duration_s + 0.5)
    kept: list[tuple[float, float]] = []
    position = 0.0
    for start, end in sorted(segments):
        if start > position:
            kept.append((position, min(start, total)))
        position = max(position, end)
    if position < total:
        kept.append((position, float(total)))
    return [(start, end) for start, end in kept if end > start]


def remove_segments_args(
    source: EditInput, kept: list[tuple[float, float]], output: Path, options: FfmpegOptions
) -> list[str]:
    """`remove-segments`: one `trim`/`atrim` branch per kept interval, concatenated.

    The last interval is left open-ended, so a duration rounded down loses no tail."""
    count = len(kept)
    with_audio = source.has_audio
    nodes = [f"[0:v]split={count}{''.join(f'[v{i}]' for i in range(count))}"]
    if with_audio:
        nodes.append(
            f"{source.audio_label}asplit={count}{''.join(f'[a{i}]' for i in range(count))}"
        )
    pads = []
    for i, (start, end) in enumerate(kept):
        bounds = f"start={_number(start)}" + (f":end={_number(end)}" if i < count - 1 else "")
        nodes.append(f"[v{i}]trim={bounds},setpts=PTS-STARTPTS[v{i}_kept]")
        pads.append(f"[v{i}_kept]")
        if with_audio:
            nodes.append(f"[a{i}]atrim={bounds},asetpts=PTS-STARTPTS[a{i}_kept]")
            pads.append(f"[a{i}_kept]")
    outputs = "[v_concat][a_out]" if with_audio else "[v_concat]"
    nodes.append(f"{''.join(pads)}concat=n={count}:v=1:a={int(with_audio)}{outputs}")
    nodes.append(f"[v_concat]fps=fps={source.fps}[v_out]")
    preset = studio_preset(
        video_info=source.video_info,
        audio_info=source.audio_info,
        fps=source.fps,
        options=options,
        can_copy_audio=False,
        video_filters=[],
    )
    maps = ["-map", "[v_out]", *(["-map", "[a_out]"] if with_audio else [])]
    return [*source.inputs, "-y", "-filter_complex", ";".join(nodes), *preset, *maps, str(output)]
