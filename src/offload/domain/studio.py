"""Studio edits as the domain sees them: the tasks of an edit request, checked as PeerTube
checks them, and the duration the edited video must have. Pure: values in, values out.

PeerTube (`middlewares/validators/videos/video-studio.ts`, `helpers/custom-validators/
video-studio.ts`, `controllers/api/videos/studio.ts`):
- 1 to 10 tasks, each `cut`, `add-intro`, `add-outro`, `add-watermark` or `remove-segments`;
- a cut has a start or an end (whole seconds ≥ 0; a start of 0 alone is no cut), start < end;
- an intro/outro is a video file with a picture; a watermark is an image; an audio-only video
  takes none of the three;
- the watermark's geometry is the instance's (`VIDEO_FILTERS.WATERMARK`), not the client's.

Beyond PeerTube: a cut or a removed segment past the end of the video as it stands at that
task (the tasks run in order, an intro lengthens what the next cut sees) is refused with the
reason, rather than made into an empty or unchanged video by ffmpeg.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from offload.domain.errors import Conflict, InvalidInput

__all__ = [
    "DURATION_TOLERANCE_S",
    "MAX_TASKS",
    "TASK_NAMES",
    "WATERMARK_GEOMETRY",
    "InvalidStudioTask",
    "InvalidStudioTasks",
    "StudioDisabled",
    "StudioTask",
    "VideoNotEditable",
    "VideoStateNotEditable",
    "edited_duration",
    "parse_tasks",
]

TASK_NAMES = ("cut", "add-intro", "add-outro", "add-watermark", "remove-segments")
#: Tasks that carry a file (`tasks[i][options][file]`).
FILE_TASKS = frozenset({"add-intro", "add-outro", "add-watermark"})
#: `CONSTRAINTS_FIELDS.VIDEO_STUDIO.TASKS`.
MAX_TASKS = 10
#: `VIDEO_FILTERS.WATERMARK`: the watermark is a tenth of the video's height, a twentieth of it
#: away from the top and right edges.
WATERMARK_GEOMETRY = {
    "watermarkSizeRatio": 0.1,
    "horizontalMarginRatio": 0.05,
    "verticalMarginRatio": 0.05,
}
#: How far an edit's output may be from the duration its tasks give: the runner re-encodes
#: (cuts are frame-accurate) but `remove-segments` keeps whole seconds, and concatenation
#: pads to the last frame of each part.
DURATION_TOLERANCE_S = 1.0


class InvalidStudioTasks(InvalidInput):
    """Should have a valid array of tasks"""


class InvalidStudioTask(InvalidInput):
    """Task is invalid"""


class StudioDisabled(InvalidInput):
    """Video studio is disabled on this instance"""


class VideoNotEditable(Conflict):
    """Cannot edit video that is already waiting for transcoding/edition"""


class VideoStateNotEditable(InvalidInput):
    """Video state is not compatible with edition"""


@dataclass(frozen=True, slots=True)
class StudioTask:
    """One task of an edit, in the user's order; `index` is its place in the request."""

    name: str
    index: int
    start: int | None = None
    end: int | None = None
    segments: tuple[tuple[int, int], ...] = ()

    @property
    def file_field(self) -> str | None:
        """The dotted form field of its file (`tasks.<i>.options.file`), if it takes one."""
        return f"tasks.{self.index}.options.file" if self.name in FILE_TASKS else None

    def to_wire(self, file_url: str | None) -> dict[str, Any]:
        """The task as the runner's payload carries it (`file_url`: its task-file URL)."""
        if self.name == "cut":
            options: dict[str, Any] = {}
            if self.start is not None:
                options["start"] = self.start
            if self.end is not None:
                options["end"] = self.end
        elif self.name == "remove-segments":
            options = {"segments": [{"start": s, "end": e} for s, e in self.segments]}
        elif self.name == "add-watermark":
            options = {"file": file_url, **WATERMARK_GEOMETRY}
        else:
            options = {"file": file_url}
        return {"name": self.name, "options": options}


def _as_list(raw: Any) -> list[Any]:
    """`tasks` from a JSON body (a list) or a form (`tasks[0][name]` → {"0": {...}})."""
    if isinstance(raw, list):
        return raw
    if isinstance(raw, Mapping) and raw and all(isinstance(k, str) and k.isdigit() for k in raw):
        by_index = {int(k): v for k, v in raw.items()}
        if sorted(by_index) != list(range(len(by_index))):
            raise InvalidStudioTasks()
        return [by_index[i] for i in range(len(by_index))]
    raise InvalidStudioTasks()


def _seconds(raw: Any) -> int | None:
    """A whole number of seconds ≥ 0 (PeerTube's `isInt(…, {min: 0})`); None when absent."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, bool):
        raise ValueError(raw)
    if isinstance(raw, int):
        value = raw
    elif isinstance(raw, str) and raw.strip().isdigit():
        value = int(raw.strip())
    else:
        raise ValueError(raw)
    if value < 0:
        raise ValueError(raw)
    return value


def _task(raw: Any, index: int, files: frozenset[str]) -> StudioTask:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
        raise InvalidStudioTasks()
    name = raw["name"]
    invalid = InvalidStudioTask(f"Task {name} is invalid")
    if name not in TASK_NAMES:
        raise invalid
    options = raw.get("options")
    options = options if isinstance(options, Mapping) else {}
    if name == "cut":
        try:
            start, end = _seconds(options.get("start")), _seconds(options.get("end"))
        except ValueError:
            raise invalid from None
        # PeerTube's `if (!start && !end)`: a start of 0 with no end cuts nothing.
        if not start and not end:
            raise invalid
        if start is not None and end is not None and start >= end:
            raise InvalidStudioTask(f"Task {name} is invalid: the end must come after the start")
        return StudioTask(name, index, start=start, end=end)
    if name == "remove-segments":
        segments = options.get("segments")
        if isinstance(segments, Mapping):
            try:
                segments = _as_list(segments)
            except InvalidStudioTasks:
                raise invalid from None
        if not isinstance(segments, list) or not segments:
            raise invalid
        parsed: list[tuple[int, int]] = []
        for segment in segments:
            if not isinstance(segment, Mapping):
                raise invalid
            try:
                s, e = _seconds(segment.get("start")), _seconds(segment.get("end"))
            except ValueError:
                raise invalid from None
            if s is None or e is None or s >= e:
                raise invalid
            parsed.append((s, e))
        return StudioTask(name, index, segments=tuple(parsed))
    task = StudioTask(name, index)
    if task.file_field not in files:
        raise InvalidStudioTask(f"Task {name} is invalid: a file is required")
    return task


def parse_tasks(raw: Any, files: Sequence[str] | frozenset[str]) -> list[StudioTask]:
    """The tasks of an edit request, in order, from its `tasks` field and the dotted names of
    its file parts.

    Raises:
        InvalidStudioTasks: not an array of 1 to 10 tasks.
        InvalidStudioTask: a task PeerTube would refuse ("Task <name> is invalid").
    """
    listed = _as_list(raw)
    if not 1 <= len(listed) <= MAX_TASKS:
        raise InvalidStudioTasks()
    names = frozenset(files)
    tasks = [_task(item, i, names) for i, item in enumerate(listed)]
    expected = {t.file_field for t in tasks if t.file_field is not None}
    unexpected = names - expected
    if unexpected:
        raise InvalidStudioTask(f"Unexpected file field {sorted(unexpected)[0]}")
    return tasks


def _kept_length(segments: Sequence[tuple[int, int]], duration: float) -> float:
    """What is left of `duration` once the segments (clipped to it, merged) are taken out."""
    removed = 0.0
    reach = 0.0
    for start, end in sorted(segments):
        start_f, end_f = max(float(start), reach), min(float(end), duration)
        if end_f > start_f:
            removed += end_f - start_f
        reach = max(reach, min(float(end), duration))
    return duration - removed


def edited_duration(
    tasks: Sequence[StudioTask], duration_s: float, file_duration: Callable[[StudioTask], float]
) -> float:
    """The duration the edit's output must have, the tasks applied in order to a video of
    `duration_s`; `file_duration(task)` is the length of an intro or outro.

    Raises:
        InvalidStudioTask: a cut that starts at or past the end of the video as it stands at
        that task (or ends past it by more than a second), or segments that remove everything.
    """
    current = duration_s
    for task in tasks:
        if task.name in ("add-intro", "add-outro"):
            current += file_duration(task)
        elif task.name == "cut":
            start = task.start or 0
            # The video's length in whole seconds, rounded up: a cut to "the end" of a 4.02 s
            # video says 5 in a client that shows whole seconds.
            limit = math.ceil(current - 1e-6)
            if start >= current or (task.end is not None and task.end > limit):
                raise InvalidStudioTask(
                    f"Task cut is invalid: the video lasts {current:.2f} s at that point"
                )
            end = min(float(task.end), current) if task.end is not None else current
            current = end - start
        elif task.name == "remove-segments":
            kept = _kept_length(task.segments, current)
            if kept <= 0.5:
                raise InvalidStudioTask("Task remove-segments is invalid: nothing would be left")
            current = kept
    return current
