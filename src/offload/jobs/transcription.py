"""`video-transcription`, runner side: its payload shapes and its processing step (download
`input.videoFileUrl`, check it has audio, run the Whisper engine, post `payload[vttFile]` and
the text field `payload[inputLanguage]`). The engines are `whisper.py`; the instance half
(plan the job after an upload, check and store the caption) is `transcription_completion.py`.

The engine is the runner's `[transcription]` table: `transcription_kind(options)` makes the
`JobKind` for it, and `KIND` (the registry's) uses the defaults: faster-whisper with the
bundled `tiny.en` model.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Set
from typing import Any

from offload.domain.errors import InvalidPayload
from offload.domain.jobs import JobType
from offload.jobs.kind import JobKind, Output, Process, Work, no_update_payload
from offload.jobs.whisper import TranscriptionEngine, TranscriptionOptions, engine_for
from offload.media.errors import MediaError, UnsupportedJob
from offload.media.probe import probe

__all__ = ["KIND", "NO_AUDIO", "transcription_kind"]

#: The official runner's error for an input without an audio stream.
NO_AUDIO = "This input file does not contain audio"


def _verify_success(fields: Mapping[str, Any], files: Set[str]) -> None:
    language = fields.get("inputLanguage")
    if "vttFile" not in files or (language is not None and not isinstance(language, str)):
        raise InvalidPayload()
    if set(fields) - {"inputLanguage"}:
        raise InvalidPayload()


def _processing_step(engine: TranscriptionEngine) -> Process:
    async def transcribe(payload: dict[str, Any], work: Work) -> Output:
        try:
            url = str(payload["input"]["videoFileUrl"])
        except (KeyError, TypeError) as exc:
            raise UnsupportedJob(
                f"malformed {JobType.TRANSCRIPTION} payload: missing {exc}"
            ) from exc
        # Before the download: a missing model fails the job at once, naming the setting.
        engine.check()
        work.workdir.mkdir(parents=True, exist_ok=True)
        media = await work.fetch(url)
        info = await asyncio.to_thread(probe, media)
        if info.audio is None:
            raise MediaError(NO_AUDIO)
        transcript = await engine.transcribe(media, work.workdir, info.duration_s, work.on_progress)
        return {"vttFile": transcript.vtt, "inputLanguage": transcript.language}

    return transcribe


def transcription_kind(options: TranscriptionOptions) -> JobKind:
    """The `video-transcription` kind with the engine `options` ask for.

    Raises:
        MissingCapability: an unknown engine name.
    """
    return JobKind(
        JobType.TRANSCRIPTION,
        _verify_success,
        no_update_payload,
        _processing_step(engine_for(options)),
    )


KIND = transcription_kind(TranscriptionOptions())
