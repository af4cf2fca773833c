"""The runner's `config.toml`: the official runner's keys and defaults (runner.md §1.3), plus
a few of ours, read and written with tomlkit so comments and unknown keys survive a rewrite.

```toml
registeredInstances = []          # or [[registeredInstances]] url / runnerToken / runnerName

[jobs]
concurrency = 2                   # all types, all instances together
# ours, all optional:
# typeConcurrency = { "vod-hls-transcoding" = 1 }
# inputCacheSizeMB = 2048         # shared downloads of one video's renditions (0 = off)
# pollIntervalSeconds = 30        # safety net next to the socket
# progressIntervalSeconds = 10    # heartbeat; the instance gives up after 2 min of silence
# failurePauseSeconds = 5         # after 3 failed jobs in a row, take none for this long,
#                                 # doubled at each further failure up to 1 min (0 = never)
# workDirectory = "/mnt/tmpfs/offload-runner"

[ffmpeg]
threads = 2                       # 0 = let ffmpeg decide
nice = 20
# path = "/usr/bin/ffmpeg"        # ours; default FFMPEG_PATH, else the imageio-ffmpeg build

[transcription]
engine = "whisper-ctranslate2"    # in-process faster-whisper unless enginePath names the CLI
model = "small"                   # a CTranslate2 model on this machine ("tiny.en" ships with
                                  # offload[transcription]); never downloaded
# enginePath = "/usr/local/bin/whisper-ctranslate2"
# modelPath = "/srv/models/whisper-small-ct2"   # a directory with model.bin
```
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import stat
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.items import AoT

from offload.runner.errors import ConfigError

__all__ = [
    "APP_NAME",
    "DEFAULT_CONCURRENCY",
    "RegisteredInstance",
    "RunnerConfig",
    "RunnerPaths",
    "default_document",
    "runner_paths",
]

log = logging.getLogger(__name__)

APP_NAME = "offload-runner"
DEFAULT_CONCURRENCY = 2
DEFAULT_INPUT_CACHE_MB = 2048
DEFAULT_POLL_INTERVAL_S = 30.0
DEFAULT_PROGRESS_INTERVAL_S = 10.0  # the official 60 s is too close to the 2-minute stall limit
DEFAULT_FAILURE_PAUSE_S = 5.0
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


@dataclass(frozen=True)
class RegisteredInstance:
    """One registration: the same URL may appear several times with different runner names."""

    url: str
    runner_token: str
    runner_name: str
    runner_description: str | None = None


@dataclass(frozen=True)
class RunnerPaths:
    """Where one runner id keeps its things."""

    config_file: Path
    state_dir: Path  # lock file and IPC socket
    cache_dir: Path  # input cache and default work directory

    @property
    def lock_file(self) -> Path:
        return self.state_dir / "daemon.lock"

    @property
    def socket(self) -> Path:
        path = self.state_dir / f"{APP_NAME}.sock"
        if len(str(path)) <= _SOCKET_PATH_MAX:
            return path
        # Deep directories (tests, odd $HOME) overflow sun_path: use a short, stable alias.
        digest = hashlib.sha256(str(path).encode()).hexdigest()[:16]
        return Path(tempfile.gettempdir()) / f"{APP_NAME}-{digest}.sock"

    @property
    def inputs_dir(self) -> Path:
        return self.cache_dir / "inputs"


def runner_paths(
    runner_id: str = "default",
    config_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> RunnerPaths:
    """XDG locations for `runner_id`; `config_dir` replaces `$XDG_CONFIG_HOME/offload-runner/<id>`
    (point it at an existing `peertube-runner-nodejs/<id>` to reuse that config as is)."""
    env = os.environ if environ is None else environ
    home = Path(env.get("HOME") or Path.home())

    def xdg(name: str, fallback: str) -> Path:
        value = env.get(name)
        return Path(value) if value else home / fallback

    config = (
        config_dir
        if config_dir is not None
        else xdg("XDG_CONFIG_HOME", ".config") / APP_NAME / runner_id
    )
    return RunnerPaths(
        config_file=config / "config.toml",
        state_dir=xdg("XDG_DATA_HOME", ".local/share") / APP_NAME / runner_id,
        cache_dir=xdg("XDG_CACHE_HOME", ".cache") / APP_NAME / runner_id,
    )


def default_document() -> tomlkit.TOMLDocument:
    """A fresh config with the official defaults (what `server` writes on first start)."""
    doc = tomlkit.document()
    doc.add("registeredInstances", tomlkit.array())
    jobs = tomlkit.table()
    jobs.add("concurrency", DEFAULT_CONCURRENCY)
    doc.add("jobs", jobs)
    ffmpeg = tomlkit.table()
    ffmpeg.add("threads", 2)
    ffmpeg.add("nice", 20)
    doc.add("ffmpeg", ffmpeg)
    transcription = tomlkit.table()
    transcription.add("engine", "whisper-ctranslate2")
    transcription.add("model", "small")
    doc.add("transcription", transcription)
    return doc


class RunnerConfig:
    """The parsed config file. Reads go through typed properties; writes edit the tomlkit
    document in place, so everything the user wrote (comments, unknown keys) stays."""

    def __init__(self, path: Path, document: tomlkit.TOMLDocument) -> None:
        self.path = path
        self.document = document

    @classmethod
    def load(cls, path: Path) -> RunnerConfig:
        """Read `path`, or start from the defaults when it does not exist (nothing is written)."""
        if not path.exists():
            return cls(path, default_document())
        _warn_if_readable_by_others(path)
        try:
            return cls(path, tomlkit.parse(path.read_text(encoding="utf-8")))
        except (tomlkit.exceptions.TOMLKitError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc

    def save(self) -> None:
        """Write atomically (temp file + rename): a crash never leaves half a config.

        The file holds runner tokens, so it is the owner's alone (0600) from the moment the
        temp file exists, and a directory made here is 0700. An existing directory keeps its
        mode: it may be one the user chose (`--config-dir`), and the file is closed anyway.
        """
        self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        # mkstemp creates the file 0600 with O_EXCL: never readable by others, never a stale one.
        fd, temp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(tomlkit.dumps(self.document))
                file.flush()
                os.fsync(file.fileno())
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise

    # ---- typed reads ----------------------------------------------------------------------

    def _get(self, table: str, key: str, default: Any) -> Any:
        section = self.document.get(table)
        if not isinstance(section, Mapping):
            return default
        value = section.get(key, default)
        return value.unwrap() if hasattr(value, "unwrap") else value

    @property
    def concurrency(self) -> int:
        return max(1, int(self._get("jobs", "concurrency", DEFAULT_CONCURRENCY)))

    @property
    def type_concurrency(self) -> dict[str, int]:
        raw = self._get("jobs", "typeConcurrency", {}) or {}
        return {str(k): max(0, int(v)) for k, v in dict(raw).items()}

    @property
    def max_resolution(self) -> int | None:
        """`[jobs] maxResolution`: skip jobs producing a taller picture (a small machine kept off
        4K work). None: no limit."""
        value = self._get("jobs", "maxResolution", None)
        return None if value is None else max(0, int(value))

    @property
    def input_cache_bytes(self) -> int:
        return (
            max(0, int(self._get("jobs", "inputCacheSizeMB", DEFAULT_INPUT_CACHE_MB))) * 1024 * 1024
        )

    @property
    def poll_interval_s(self) -> float:
        return max(0.5, float(self._get("jobs", "pollIntervalSeconds", DEFAULT_POLL_INTERVAL_S)))

    @property
    def progress_interval_s(self) -> float:
        return max(
            0.2, float(self._get("jobs", "progressIntervalSeconds", DEFAULT_PROGRESS_INTERVAL_S))
        )

    @property
    def failure_pause_s(self) -> float:
        """`[jobs] failurePauseSeconds`: the first pause after a streak of failed jobs (0: none)."""
        return max(0.0, float(self._get("jobs", "failurePauseSeconds", DEFAULT_FAILURE_PAUSE_S)))

    @property
    def work_directory(self) -> Path | None:
        value = self._get("jobs", "workDirectory", None)
        return Path(value) if value else None

    @property
    def ffmpeg_threads(self) -> int:
        return max(0, int(self._get("ffmpeg", "threads", 2)))

    @property
    def ffmpeg_nice(self) -> int:
        return int(self._get("ffmpeg", "nice", 20))

    @property
    def ffmpeg_path(self) -> str | None:
        value = self._get("ffmpeg", "path", None)
        return str(value) if value else None

    @property
    def transcription_engine(self) -> str:
        return str(self._get("transcription", "engine", "whisper-ctranslate2"))

    @property
    def transcription_engine_path(self) -> str | None:
        value = self._get("transcription", "enginePath", None)
        return str(value) if value else None

    @property
    def transcription_model(self) -> str:
        return str(self._get("transcription", "model", "small"))

    @property
    def transcription_model_path(self) -> Path | None:
        value = self._get("transcription", "modelPath", None)
        return Path(value).expanduser() if value else None

    @property
    def registered_instances(self) -> list[RegisteredInstance]:
        raw = self.document.get("registeredInstances") or []
        result = []
        for entry in raw:
            if (
                not isinstance(entry, Mapping)
                or not entry.get("url")
                or not entry.get("runnerToken")
            ):
                continue
            description = entry.get("runnerDescription")
            result.append(
                RegisteredInstance(
                    url=str(entry["url"]),
                    runner_token=str(entry["runnerToken"]),
                    runner_name=str(entry.get("runnerName", "")),
                    runner_description=str(description) if description else None,
                )
            )
        return result

    # ---- edits ----------------------------------------------------------------------------

    def add_instance(self, instance: RegisteredInstance) -> None:
        """Append a registration (a `[[registeredInstances]]` table)."""
        entry = tomlkit.table()
        entry.add("url", instance.url)
        entry.add("runnerToken", instance.runner_token)
        entry.add("runnerName", instance.runner_name)
        if instance.runner_description:
            entry.add("runnerDescription", instance.runner_description)
        current = self.document.get("registeredInstances")
        if isinstance(current, AoT):
            current.append(entry)
            return
        # `registeredInstances = []` (the default) or missing: becomes an array of tables. It
        # must sit before the first table to stay top-level, so rebuild the document's order.
        existing = [e for e in (current or []) if isinstance(e, Mapping)]
        aot = tomlkit.aot()
        for old in existing:
            table = tomlkit.table()
            for key, value in old.items():
                table.add(key, value)
            aot.append(table)
        aot.append(entry)
        if "registeredInstances" in self.document:
            self.document.remove("registeredInstances")
        self.document.add("registeredInstances", aot)

    def remove_instance(self, url: str, runner_name: str) -> bool:
        """Drop the registration for (`url`, `runner_name`); True if there was one."""
        current = self.document.get("registeredInstances")
        if current is None:
            return False
        keep = [
            e
            for e in current
            if not (
                _same_url(str(e.get("url", "")), url)
                and str(e.get("runnerName", "")) == runner_name
            )
        ]
        if len(keep) == len(current):
            return False
        if isinstance(current, AoT):
            # Remove in place so the other tables keep their comments.
            for index in reversed(range(len(current))):
                entry = current[index]
                if (
                    _same_url(str(entry.get("url", "")), url)
                    and str(entry.get("runnerName", "")) == runner_name
                ):
                    del current[index]
            if len(current) == 0:
                self.document.remove("registeredInstances")
                self.document.add("registeredInstances", tomlkit.array())
            return True
        self.document["registeredInstances"] = tomlkit.array()
        for entry in keep:
            self.add_instance(
                RegisteredInstance(
                    str(entry["url"]), str(entry["runnerToken"]), str(entry.get("runnerName", ""))
                )
            )
        return True

    def find_instance(self, url: str, runner_name: str) -> RegisteredInstance | None:
        return next(
            (
                i
                for i in self.registered_instances
                if _same_url(i.url, url) and i.runner_name == runner_name
            ),
            None,
        )


def _warn_if_readable_by_others(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning(
            "%s holds runner tokens but its mode is %04o: run `chmod 600 %s` (the next save writes it 0600)",
            path,
            mode,
            path,
        )


def _same_url(a: str, b: str) -> bool:
    return a.rstrip("/") == b.rstrip("/")
