"""Runner job states, types and the decisions that move a job between states.

Everything here is pure: given values, return values. The store executes the
decisions with one conditional UPDATE per transition, so the database settles races.

```mermaid
stateDiagram-v2
    [*] --> PENDING: a. created without parent
    [*] --> WAITING_FOR_PARENT_JOB: b. created with parent
    WAITING_FOR_PARENT_JOB --> PENDING: c. parent finished
    PENDING --> PROCESSING: d. accept
    PROCESSING --> PENDING: e. abort, stalled, error with retries left (an error: offered after a backoff)
    PROCESSING --> COMPLETING: f. success
    COMPLETING --> COMPLETED: g. completion done
    COMPLETING --> PENDING: h. output refused / completion lost, retries left
    PROCESSING --> ERRORED: i. error, no retries left (or live)
    COMPLETING --> ERRORED: j. completion failed
    PENDING --> CANCELLED: k. admin cancel
    PROCESSING --> CANCELLED: k
    WAITING_FOR_PARENT_JOB --> CANCELLED: k
    WAITING_FOR_PARENT_JOB --> PARENT_ERRORED: l. ancestor errored
    WAITING_FOR_PARENT_JOB --> PARENT_CANCELLED: m. ancestor cancelled
```
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "ABORTABLE_TYPES",
    "ACTIVE_STATES",
    "CANCELLABLE_STATES",
    "MAX_FAILURES",
    "TERMINAL_STATES",
    "UPDATABLE_STATES",
    "FailureDecision",
    "Job",
    "JobAttempt",
    "JobSpec",
    "JobState",
    "JobType",
    "RetryBackoff",
    "StallCategory",
    "decide_after_failure",
    "output_resolution",
    "stall_category",
]

#: A job that failed this many times on runners is ERRORED for good (PeerTube's MAX_FAILURES).
MAX_FAILURES = 5


class JobState(enum.IntEnum):
    """The nine runner job states, with PeerTube's ids."""

    PENDING = 1
    PROCESSING = 2
    COMPLETED = 3
    ERRORED = 4
    WAITING_FOR_PARENT_JOB = 5
    CANCELLED = 6
    PARENT_ERRORED = 7
    PARENT_CANCELLED = 8
    COMPLETING = 9

    @property
    def label(self) -> str:
        """The label PeerTube puts on the wire next to the id."""
        return _LABELS[self]

    def to_wire(self) -> dict[str, object]:
        return {"id": int(self), "label": self.label}


_LABELS = {
    JobState.PENDING: "Pending",
    JobState.PROCESSING: "Processing",
    JobState.COMPLETED: "Completed",
    JobState.ERRORED: "Errored",
    JobState.WAITING_FOR_PARENT_JOB: "Waiting for parent job to finish",
    JobState.CANCELLED: "Cancelled",
    JobState.PARENT_ERRORED: "Parent job failed",
    JobState.PARENT_CANCELLED: "Parent job cancelled",
    JobState.COMPLETING: "Completing",
}

TERMINAL_STATES = frozenset(
    {
        JobState.COMPLETED,
        JobState.ERRORED,
        JobState.CANCELLED,
        JobState.PARENT_ERRORED,
        JobState.PARENT_CANCELLED,
    }
)
ACTIVE_STATES = frozenset(set(JobState) - TERMINAL_STATES)
CANCELLABLE_STATES = frozenset(
    {JobState.PENDING, JobState.PROCESSING, JobState.WAITING_FOR_PARENT_JOB}
)
#: States in which a runner may still post progress updates (answered 204, ignored after PROCESSING).
UPDATABLE_STATES = frozenset({JobState.PROCESSING, JobState.COMPLETING, JobState.COMPLETED})


class JobType(enum.StrEnum):
    """The job type strings of PeerTube's protocol."""

    VOD_WEB_VIDEO = "vod-web-video-transcoding"
    VOD_HLS = "vod-hls-transcoding"
    VOD_AUDIO_MERGE = "vod-audio-merge-transcoding"
    LIVE_RTMP_HLS = "live-rtmp-hls-transcoding"
    STUDIO = "video-studio-transcoding"
    TRANSCRIPTION = "video-transcription"
    STORYBOARD = "generate-video-storyboard"


#: Types whose jobs go back to PENDING on abort; live cannot be resumed by another runner.
ABORTABLE_TYPES = frozenset(set(JobType) - {JobType.LIVE_RTMP_HLS})


class StallCategory(enum.StrEnum):
    """Which stale-job threshold applies to a job type."""

    VOD = "vod"
    LIVE = "live"
    STUDIO = "studio"
    TRANSCRIPTION = "transcription"
    STORYBOARD = "storyboard"


_STALL = {
    JobType.VOD_WEB_VIDEO: StallCategory.VOD,
    JobType.VOD_HLS: StallCategory.VOD,
    JobType.VOD_AUDIO_MERGE: StallCategory.VOD,
    JobType.LIVE_RTMP_HLS: StallCategory.LIVE,
    JobType.STUDIO: StallCategory.STUDIO,
    JobType.TRANSCRIPTION: StallCategory.TRANSCRIPTION,
    # PeerTube forgets storyboards in its watchdog; a stuck one would stay PROCESSING forever.
    JobType.STORYBOARD: StallCategory.STORYBOARD,
}


def stall_category(job_type: JobType) -> StallCategory:
    return _STALL[job_type]


def output_resolution(payload: Mapping[str, Any]) -> int | None:
    """The height a job produces (`payload.output.resolution`), None for jobs without one
    (studio edits, transcription, live, storyboards): what a runner's `maxResolution` limits."""
    output = payload.get("output")
    value = output.get("resolution") if isinstance(output, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None


@dataclass(frozen=True, slots=True)
class RetryBackoff:
    """How long a job whose failure counted waits before it is offered again.

    `first_s` after its first failure, doubled at each further one, at most `max_s`; then up
    to `jitter` (a fraction, 0..1) of that is taken off at random, so jobs that failed
    together do not all come back at the same moment. `first_s` 0: offered again at once.
    """

    first_s: float = 0.0
    max_s: float = 0.0
    jitter: float = 0.0

    def delay_s(self, failures: int, draw: float) -> float:
        """The wait after the `failures`-th counted failure; `draw` in [0, 1) is the jitter
        source's number (the caller's random generator: this stays pure)."""
        if failures < 1 or self.first_s <= 0:
            return 0.0
        # The exponent is capped so a huge count cannot overflow a float; max_s caps anyway.
        full = min(self.max_s, self.first_s * 2.0 ** min(failures - 1, 64))
        return full * (1.0 - self.jitter * draw)


@dataclass(frozen=True, slots=True)
class FailureDecision:
    """What happens to a job after a failure: its next state and whether it counts."""

    next_state: JobState
    failures: int
    #: The message is stored only when the job ends ERRORED (PeerTube keeps `error` null on retry).
    store_error: bool
    #: Seconds before a re-queued job is offered again (0: at once).
    retry_after_s: float = 0.0

    @property
    def requeued(self) -> bool:
        return self.next_state is JobState.PENDING


def decide_after_failure(
    job_type: JobType,
    failures: int,
    *,
    counts: bool,
    backoff: RetryBackoff | None = None,
    draw: float = 0.0,
) -> FailureDecision:
    """Decide the fate of a PROCESSING (or COMPLETING) job that failed.

    Args:
        job_type: the job's type; non-abortable types (live) never go back to PENDING.
        failures: failures recorded before this one.
        counts: True for runner errors and refused outputs, False for aborts and stalls.
        backoff: how a re-queued job whose failure counts waits before its next offer. A
            failure that does not count is offered again at once: the runner went away (it
            stopped, crashed, lost its network), nothing says the job is at fault, and a stall
            has already waited out its threshold.
        draw: the jitter source's number in [0, 1), see `RetryBackoff.delay_s`.
    """
    total = failures + 1 if counts else failures
    if job_type in ABORTABLE_TYPES and total < MAX_FAILURES:
        delay = backoff.delay_s(total, draw) if counts and backoff is not None else 0.0
        return FailureDecision(JobState.PENDING, total, store_error=False, retry_after_s=delay)
    return FailureDecision(JobState.ERRORED, total, store_error=True)


@dataclass(frozen=True, slots=True)
class JobAttempt:
    """One runner's go at a job: who, when, and how it ended (None while it runs)."""

    attempt: int
    runner_name: str | None
    started_at: datetime
    ended_at: datetime | None
    #: completed, errored, aborted, stalled, cancelled, refused, lost
    outcome: str | None
    message: str | None


@dataclass(frozen=True, slots=True)
class Job:
    """A runner job as the core sees it (a row of the store, decoded)."""

    id: int
    uuid: str
    type: JobType
    state: JobState
    priority: int
    failures: int
    progress: int | None
    error: str | None
    payload: dict[str, object]
    private_payload: dict[str, object]
    runner_id: int | None
    parent_id: int | None
    attempt: int
    job_token_digest: str | None
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime
    #: A PENDING job backing off after a failure is offered from this moment on (None: now).
    not_before: datetime | None = None


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job to create: what the ladder builders and the service-level enqueue hand the store.

    `parent` is the index of the parent in the same batch, or the id of an existing job
    through `parent_id`.
    """

    type: JobType
    payload: dict[str, object]
    private_payload: dict[str, object]
    priority: int
    parent: int | None = None
    parent_id: int | None = None
