"""A runner installation for tests: its own XDG dirs, CLI calls and daemon processes (the
`offload runner` command as a subprocess), and the `home` / `second_home` fixtures."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from offload.runner.config import RunnerConfig, runner_paths
from tests.support import RunningInstance

__all__ = ["RunnerHome", "home", "registration_token", "second_home"]


def registration_token(instance: RunningInstance) -> str:
    with instance.admin() as admin:
        return str(
            admin.get("/api/v1/runners/registration-tokens").json()["data"][0]["registrationToken"]
        )


@dataclass
class RunnerHome:
    """One runner installation: its own config/cache/socket dirs under `root`."""

    root: Path
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OFFLOAD_")}
        env.update(
            HOME=str(self.root),
            XDG_CONFIG_HOME=str(self.root / "config"),
            XDG_DATA_HOME=str(self.root / "share"),
            XDG_CACHE_HOME=str(self.root / "cache"),
        )
        return env

    @property
    def work_dir(self) -> Path:
        return runner_paths(environ=self.env).cache_dir / "transcoding"

    def configure(
        self,
        *,
        ffmpeg_path: Path | None = None,
        transcription: dict[str, str] | None = None,
        **jobs: Any,
    ) -> None:
        """Edit config.toml like an admin would (fast heartbeat, poll and failure pause for tests);
        `transcription` sets keys of `[transcription]` (the bundled `tiny.en` unless told)."""
        path = runner_paths(environ=self.env).config_file
        config = RunnerConfig.load(path)
        table = config.document.setdefault("jobs", {})
        table.update(
            {
                "progressIntervalSeconds": 0.5,
                "pollIntervalSeconds": 1,
                "failurePauseSeconds": 0.1,
                **jobs,
            }
        )
        config.document["ffmpeg"]["threads"] = 1
        if ffmpeg_path is not None:
            config.document["ffmpeg"]["path"] = str(ffmpeg_path)
        config.document.setdefault("transcription", {}).update(
            {"model": "tiny.en", **(transcription or {})}
        )
        config.save()

    def cli(self, *args: str, timeout_s: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_OFFLOAD, "runner", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            check=False,
        )

    def start(self, *args: str) -> subprocess.Popen[bytes]:
        log = (self.root / f"daemon-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [*_OFFLOAD, "runner", "server", *args],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(
            p.read_text(errors="replace") for p in sorted(self.root.glob("daemon-*.log"))
        )

    def register(self, instance: RunningInstance, name: str) -> subprocess.CompletedProcess[str]:
        return self.cli(
            "register",
            "--url",
            instance.url,
            "--registration-token",
            registration_token(instance),
            "--runner-name",
            name,
        )

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=10)


_OFFLOAD = [sys.executable, "-c", "from offload.cli import main; main()"]


@pytest.fixture
def home(tmp_path: Path) -> Iterator[RunnerHome]:
    runner_home = RunnerHome(tmp_path / "runner")
    runner_home.root.mkdir()
    yield runner_home
    runner_home.stop_all()


@pytest.fixture
def second_home(tmp_path: Path) -> Iterator[RunnerHome]:
    runner_home = RunnerHome(tmp_path / "runner2")
    runner_home.root.mkdir()
    yield runner_home
    runner_home.stop_all()
