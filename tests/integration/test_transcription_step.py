"""The `video-transcription` processing step on real speech: faster-whisper with the bundled
`tiny.en` model hears an espeak-ng sentence; a missing model or an input without audio fails
before any decoding, with a message that says what to fix."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest
from imageio_ffmpeg import get_ffmpeg_exe

from offload.jobs.registry import BUILTIN_KINDS
from offload.jobs.transcription import NO_AUDIO, transcription_kind
from offload.jobs.whisper import Cue, TranscriptionOptions, to_webvtt
from offload.media.errors import MediaError, MissingCapability
from offload.media.ffmpeg import FfmpegOptions
from offload.media.processors import process_job
from tests.clips import make
from tests.speech import SPOKEN_WORDS, speech_clip

TRANSCRIPTION = "video-transcription"
PAYLOAD = {
    "input": {"videoFileUrl": "http://instance/files/videos/v/max-quality/audio"},
    "output": {},
}


def _run(
    source: Path, workdir: Path, options: TranscriptionOptions | None = None
) -> tuple[dict[str, Path | str], list[int], list[str]]:
    kinds = (
        BUILTIN_KINDS if options is None else BUILTIN_KINDS.replacing(transcription_kind(options))
    )
    progress: list[int] = []
    fetched: list[str] = []

    async def fetch(url: str) -> Path:
        fetched.append(url)
        target = workdir / "input.mp4"
        shutil.copy(source, target)
        return target

    output = asyncio.run(
        process_job(
            TRANSCRIPTION,
            PAYLOAD,
            workdir=workdir,
            fetch=fetch,
            on_progress=progress.append,
            ffmpeg=FfmpegOptions(path=get_ffmpeg_exe(), threads=1, nice=0),
            kinds=kinds,
        )
    )
    return dict(output), progress, fetched


@pytest.mark.slow
def test_the_bundled_model_hears_the_sentence(tmp_path: Path) -> None:
    """The VTT holds the spoken words with cue times inside the clip; the language is `en`;
    progress moved while decoding."""
    clip = speech_clip(tmp_path / "speech.mp4")

    output, progress, _ = _run(clip, tmp_path / "work")

    assert {"vttFile", "inputLanguage"} == set(output)
    assert "en" == output["inputLanguage"]
    vtt = Path(output["vttFile"]).read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\n")
    assert all(word in vtt.lower() for word in SPOKEN_WORDS), vtt
    assert progress and max(progress) > 0


def test_a_missing_model_fails_before_the_download_naming_the_setting(tmp_path: Path) -> None:
    """A model name nobody has here and a modelPath without model.bin: MissingCapability naming
    `[transcription] modelPath`, and the input was never fetched."""
    empty = tmp_path / "empty-model"
    empty.mkdir()
    for options in (
        TranscriptionOptions(model="large-v3-not-here"),
        TranscriptionOptions(model_path=empty),
    ):
        with pytest.raises(MissingCapability, match=r"\[transcription\] modelPath") as raised:
            _run(tmp_path / "never-read.mp4", tmp_path / "work", options)
        assert "large-v3-not-here" in str(raised.value) or str(empty) in str(raised.value)


def test_a_missing_engine_binary_names_enginePath(tmp_path: Path) -> None:
    with pytest.raises(MissingCapability, match=r"set \[transcription\] enginePath"):
        _run(
            tmp_path / "never-read.mp4",
            tmp_path / "work",
            TranscriptionOptions(engine_path=str(tmp_path / "no-whisper-here")),
        )


def test_an_input_without_audio_is_an_error_as_the_official_runner_says(tmp_path: Path) -> None:
    clip = make(tmp_path / "mute.mp4", audio=False, size="160x120")
    with pytest.raises(MediaError, match=NO_AUDIO):
        _run(clip, tmp_path / "work")


def test_webvtt_timestamps() -> None:
    assert "WEBVTT\n\n00:00:01.250 --> 01:02:03.004\nHi\n" == to_webvtt(
        [Cue(1.25, 3723.004, " Hi "), Cue(4.0, 5.0, "  ")]
    )


STAND_IN = '''#!{python}
"""Stands in for PeerTube's whisper-ctranslate2 CLI: records its argv, writes what the real one
writes (<stem>.vtt and <stem>.json with the language) into --output_dir."""
import json, pathlib, sys
args = sys.argv[1:]
pathlib.Path({argv_file!r}).write_text(json.dumps(args))
out = pathlib.Path(args[args.index("--output_dir") + 1])
stem = pathlib.Path(args[0]).stem
(out / (stem + ".vtt")).write_text("WEBVTT\\n\\n00:00:00.000 --> 00:00:00.500\\nfrom the cli\\n")
(out / (stem + ".json")).write_text(json.dumps({{"language": "fr", "segments": []}}))
'''


def test_engine_path_runs_the_whisper_ctranslate2_cli_with_peertubes_arguments(
    tmp_path: Path,
) -> None:
    """With `enginePath`, the binary gets PeerTube's arguments (model directory, word
    timestamps, VAD, every output format) and its .vtt and .json language are what is posted."""
    import json
    import sys

    argv_file = tmp_path / "argv.json"
    binary = tmp_path / "whisper-ctranslate2"
    binary.write_text(STAND_IN.format(python=sys.executable, argv_file=str(argv_file)))
    binary.chmod(0o755)
    model = tmp_path / "model"
    model.mkdir()
    clip = make(tmp_path / "tone.mp4", size="160x120")

    output, _, _ = _run(
        clip,
        tmp_path / "work",
        TranscriptionOptions(engine_path=str(binary), model_path=model),
    )

    args = json.loads(argv_file.read_text())
    assert args[0].endswith("input.mp4")
    assert [
        "--model_directory",
        str(model),
        "--word_timestamps",
        "True",
        "--vad_filter",
        "true",
        "--vad_min_silence_duration_ms",
        "5000",
        "--output_format",
        "all",
        "--output_dir",
    ] == args[1:-1]
    assert "fr" == output["inputLanguage"]
    assert "from the cli" in Path(output["vttFile"]).read_text()
