"""The job-type registry: every wire type of the protocol is registered, with all its parts;
what can be processed is what the instance can complete and what a runner advertises."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import pytest

from offload.domain.jobs import JobType
from offload.jobs import vod
from offload.jobs.completions import BUILTIN_COMPLETIONS
from offload.jobs.kind import JobKind, Work, no_update_payload, success_files
from offload.jobs.registry import BUILTIN_KINDS, JobKinds
from offload.media.processors import SUPPORTED_JOB_TYPES

VOD = ("vod-web-video-transcoding", "vod-hls-transcoding", "vod-audio-merge-transcoding")
#: What the built-in registry processes, in registration order.
PROCESSED = (*VOD, "video-studio-transcoding", "video-transcription", "generate-video-storyboard")


async def _nothing(payload: dict[str, Any], work: Work) -> dict[str, Path]:
    return {}


def test_every_wire_type_is_registered_once() -> None:
    """The built-in registry holds one kind per protocol job type, under its wire name."""
    registered = [kind.type for kind in BUILTIN_KINDS]

    assert sorted(registered) == sorted(JobType)
    assert all(BUILTIN_KINDS[str(job_type)].type is job_type for job_type in JobType)


@pytest.mark.parametrize("job_type", list(JobType), ids=str)
def test_each_registered_type_has_every_part(job_type: JobType) -> None:
    """Each kind checks its success and update payloads; a processed one has a coroutine step
    and a completion on the instance, an unprocessed one neither."""
    kind = BUILTIN_KINDS[job_type]

    assert callable(kind.verify_success) and callable(kind.verify_update)
    if kind.process is None:
        assert job_type not in BUILTIN_COMPLETIONS
    else:
        assert inspect.iscoroutinefunction(kind.process)
        assert callable(BUILTIN_COMPLETIONS[job_type])


def test_the_instance_completes_exactly_the_types_that_can_be_processed() -> None:
    """The two halves cover the same types: no processed type without a completion, no
    completion for a type nothing processes."""
    assert set(BUILTIN_COMPLETIONS) == set(BUILTIN_KINDS.processable)


def test_the_runner_advertises_the_registered_types_in_order() -> None:
    """What a runner takes by default is the registry's processable types: the VOD family,
    studio edits, transcription and storyboards."""
    assert PROCESSED == SUPPORTED_JOB_TYPES == BUILTIN_KINDS.processable
    assert VOD == tuple(str(kind.type) for kind in vod.KINDS)


def test_a_wire_type_registered_twice_is_refused() -> None:
    """Two kinds for one wire name is a mistake caught when the registry is built."""
    kind = JobKind(JobType.TRANSCRIPTION, success_files("vttFile"), no_update_payload)

    with pytest.raises(ValueError, match="video-transcription"):
        JobKinds([kind, kind])


def test_replacing_a_kind_leaves_the_original_registry_alone() -> None:
    """`replacing` gives a type another implementation in a new registry; the built-in one
    keeps its own (registries are per instance or runner, never shared state)."""
    stub = JobKind(JobType.STORYBOARD, success_files("storyboardFile"), no_update_payload, _nothing)

    replaced = BUILTIN_KINDS.replacing(stub)

    assert _nothing is replaced["generate-video-storyboard"].process
    assert _nothing is not BUILTIN_KINDS["generate-video-storyboard"].process
    assert sorted(replaced.processable) == sorted(PROCESSED)
    assert PROCESSED == BUILTIN_KINDS.processable
    assert sorted(k.type for k in replaced) == sorted(JobType)
