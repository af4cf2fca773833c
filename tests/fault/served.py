"""An instance in an OS process of its own, for tests that kill it with SIGKILL.

`python -m tests.fault.served --commit-delay-s N` serves an instance configured by `OFFLOAD_*`
variables, like `offload serve`, with one test seam plugged in through `create_app`'s plugins:
each completion, once it has verified and placed its files, prints `placed <job uuid>` and
waits N seconds before its rows commit. That is the window a kill must hit to leave files on
disk that no row refers to yet.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import uvicorn

import offload
from offload.domain.jobs import Job
from offload.http.app import create_app, server_options
from offload.http.services import Services
from offload.instance.results import Commit, JobHandler, PostedPayload
from offload.settings import load_settings
from tests.support import ADMIN_PASSWORD, free_port, login, wait_until

__all__ = ["ServedInstance"]

_REPO_ROOT = Path(__file__).resolve().parents[2]


class _SlowCommit:
    """A job handler that holds every completion between its placed files and its rows."""

    def __init__(self, inner: JobHandler, delay_s: float) -> None:
        self.inner = inner
        self.delay_s = delay_s

    async def complete(self, job: Job, result: PostedPayload) -> Commit | None:
        commit = await self.inner.complete(job, result)
        print(f"placed {job.uuid}", flush=True)
        await asyncio.sleep(self.delay_s)
        return commit

    async def on_update(self, job: Job, update: PostedPayload) -> None:
        await self.inner.on_update(job, update)

    async def on_finished(self, job: Job) -> None:
        await self.inner.on_finished(job)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commit-delay-s", type=float, default=0.0)
    delay_s = parser.parse_args().commit_delay_s
    settings = load_settings()
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )

    def slow_commits(_app: Any, services: Services) -> None:
        handlers = services.jobs.handlers
        for job_type, handler in list(handlers.items()):
            handlers[job_type] = _SlowCommit(handler, delay_s)

    app = create_app(settings, plugins=[slow_commits] if delay_s else [])
    uvicorn.run(app, host=settings.host, port=settings.port, **server_options(settings))


@dataclass
class ServedInstance:
    """The instance process and what a test needs to talk to it (the `client`/`admin` shape of
    `RunningInstance`, so `tests.clips` helpers work with it)."""

    data_dir: Path
    env: dict[str, str]
    port: int
    process: subprocess.Popen[bytes] | None = None
    logs: list[Path] = field(default_factory=list)
    _admin_token: str | None = None

    @classmethod
    def start(
        cls, data_dir: Path, database_url: str, *, commit_delay_s: float = 0.0, **settings: Any
    ) -> ServedInstance:
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OFFLOAD_")}
        # This checkout's sources (not an installed copy) and `tests` itself.
        env["PYTHONPATH"] = os.pathsep.join(
            [str(Path(offload.__file__).resolve().parents[1]), str(_REPO_ROOT)]
        )
        values = {
            "data_dir": data_dir,
            "database_url": database_url,
            "listen": f"127.0.0.1:{port}",
            "admin_password": ADMIN_PASSWORD,
            "rate_limit_max": 100_000,
            **settings,
        }
        env.update({f"OFFLOAD_{name.upper()}": str(value) for name, value in values.items()})
        served = cls(data_dir=data_dir, env=env, port=port)
        served.launch(commit_delay_s)
        return served

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def launch(self, commit_delay_s: float = 0.0) -> None:
        """Start the process (again, after a kill: same data, database and port) and wait until it serves."""
        log = self.data_dir.parent / f"instance-{self.port}-{len(self.logs)}.log"
        self.logs.append(log)
        command = [
            sys.executable,
            "-m",
            "tests.fault.served",
            "--commit-delay-s",
            str(commit_delay_s),
        ]
        with log.open("wb") as output:
            self.process = subprocess.Popen(
                command, cwd=_REPO_ROOT, env=self.env, stdout=output, stderr=subprocess.STDOUT
            )
        wait_until(
            lambda: self._answers() or self.process is None or self.process.poll() is not None,
            timeout_s=60,
            message="the instance process serving",
        )
        if not self._answers():
            raise RuntimeError(f"the instance process did not start:\n{self.output()}")

    def _answers(self) -> bool:
        try:
            return httpx.get(f"{self.url}/api/v1/ping", timeout=2.0).status_code == 200
        except httpx.HTTPError:
            return False

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, as when the machine or the OOM killer takes it."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def output(self) -> str:
        """Everything the process (and its predecessors) printed and logged."""
        return "\n".join(path.read_text(errors="replace") for path in self.logs if path.exists())

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=30.0, **kwargs)

    def admin_token(self) -> str:
        if self._admin_token is None:
            self._admin_token = login(self.url, "root", ADMIN_PASSWORD)
        return self._admin_token

    def admin(self) -> httpx.Client:
        return self.client(headers={"Authorization": f"Bearer {self.admin_token()}"})


if __name__ == "__main__":
    main()
