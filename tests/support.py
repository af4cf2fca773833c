"""Helpers for the tests and the benchmarks (`python -m bench` imports them from here): a real
instance on loopback in a thread, a throwaway PostgreSQL cluster, deadline-based waiting. No
mocks: everything here runs the real thing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn

from offload.http.app import create_app, server_options
from offload.http.services import utcnow
from offload.settings import InstanceSettings

__all__ = [
    "ADMIN_PASSWORD",
    "PgCluster",
    "RunningInstance",
    "async_wait_until",
    "create_user",
    "find_pg_bin",
    "free_port",
    "login",
    "pg_cluster",
    "start_instance",
    "wait_until",
]

T = TypeVar("T")

ADMIN_PASSWORD = "test-admin-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(
    predicate: Callable[[], T],
    timeout_s: float = 10.0,
    interval_s: float = 0.05,
    message: str = "condition",
) -> T:
    """Poll `predicate` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {message}")
        time.sleep(interval_s)


async def async_wait_until(
    predicate: Callable[[], Any],
    timeout_s: float = 10.0,
    interval_s: float = 0.05,
    message: str = "condition",
) -> Any:
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {message}")
        await asyncio.sleep(interval_s)


@dataclass
class RunningInstance:
    """An instance served by uvicorn on 127.0.0.1 in a background thread."""

    settings: InstanceSettings
    url: str
    services: Any = None
    loop: asyncio.AbstractEventLoop | None = None
    _server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    _admin_token: str | None = field(default=None, repr=False)

    def call(
        self, fn: Callable[..., Any], *args: Any, timeout_s: float = 30.0, **kwargs: Any
    ) -> Any:
        """Run `fn(*args, **kwargs)` (a coroutine function, e.g. a service method) on the
        instance's own event loop and return its result: the service layer, for real."""
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(fn(*args, **kwargs), self.loop).result(timeout_s)

    def client(self, **kwargs: Any) -> httpx.Client:
        # Plain HTTP on loopback: skip building a TLS context for every client (~30 ms each).
        kwargs.setdefault("verify", False)
        return httpx.Client(base_url=self.url, timeout=30.0, **kwargs)

    def admin_token(self) -> str:
        if self._admin_token is None:
            self._admin_token = login(self.url, "root", ADMIN_PASSWORD)
        return self._admin_token

    def admin(self) -> httpx.Client:
        return self.client(headers={"Authorization": f"Bearer {self.admin_token()}"})

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=20)


def login(url: str, username: str, password: str) -> str:
    with httpx.Client(base_url=url, timeout=10.0, verify=False) as c:
        client = c.get("/api/v1/oauth-clients/local").json()
        r = c.post(
            "/api/v1/users/token",
            data={**client, "grant_type": "password", "username": username, "password": password},
        )
        r.raise_for_status()
        return str(r.json()["access_token"])


def create_user(instance: RunningInstance, username: str, *, role: int = 2, **fields: Any) -> str:
    """Create `username` through the admin API (role 2: a plain user; `fields` add quotas…) and
    return its password, `<username>-password`."""
    password = f"{username}-password"
    with instance.admin() as admin:
        r = admin.post(
            "/api/v1/users",
            json={
                "username": username,
                "password": password,
                "email": f"{username}@example.com",
                "role": role,
                **fields,
            },
        )
    assert 200 == r.status_code, r.text
    return password


def start_instance(
    data_dir: Path,
    database_url: str | None = None,
    *,
    plugins: list[Any] | None = None,
    now: Callable[[], datetime] | None = None,
    **overrides: Any,
) -> RunningInstance:
    """Serve an instance on a free loopback port; `plugins` go to `create_app` (handlers,
    routes), `now` replaces its clock, `overrides` its settings."""
    port = free_port()
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "listen": f"127.0.0.1:{port}",
        "admin_password": ADMIN_PASSWORD,
        # Tests hammer one IP; the rate-limit test sets its own limit.
        "rate_limit_max": 100_000,
        "last_contact_interval_s": 2.0,
        "socket_debounce_s": 1.0,
        # PeerTube re-offers a failed job at once, and so must the conformance tests' instance;
        # the backoff tests turn it on.
        "retry_backoff_s": 0.0,
    }
    if database_url:
        values["database_url"] = database_url
    values.update(overrides)
    settings = InstanceSettings(**values)
    instance = RunningInstance(settings=settings, url=str(settings.public_url))

    def ready(services: Any, _generated: str | None) -> None:
        instance.services = services
        instance.loop = asyncio.get_running_loop()

    app = create_app(settings, now=now or utcnow, on_ready=ready, plugins=plugins)
    config = uvicorn.Config(app, host="127.0.0.1", port=port, **server_options(settings))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"instance-{port}", daemon=True)
    thread.start()
    instance._server, instance._thread = server, thread
    wait_until(
        lambda: server.started or not thread.is_alive(), timeout_s=30, message="instance start"
    )
    if not server.started:
        raise RuntimeError("instance failed to start")
    return instance


# ---- PostgreSQL ---------------------------------------------------------------------------


def find_pg_bin() -> Path | None:
    candidates = [Path("/usr/local/bin")] + sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), reverse=True
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.insert(0, Path(on_path).parent)
    for d in candidates:
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    return None


@dataclass
class PgCluster:
    bin_dir: Path
    data_dir: Path
    port: int
    user: str = "offload"

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{database}"

    def psql(self, sql: str, database: str = "postgres") -> None:
        subprocess.run(
            [
                str(self.bin_dir / "psql") if (self.bin_dir / "psql").exists() else "psql",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                database,
                "-v",
                "ON_ERROR_STOP=1",
                "-q",
                "-c",
                sql,
            ],
            check=True,
            capture_output=True,
        )

    def create_database(self, template: str | None = None) -> str:
        name = "t_" + uuid.uuid4().hex[:12]
        self.psql(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        return name


@contextlib.contextmanager
def pg_cluster() -> Iterator[PgCluster]:
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise FileNotFoundError("initdb/pg_ctl not found")
    # Our own temp dir, not pytest's (whose parents are private to root).
    base = Path(tempfile.mkdtemp(prefix="offload-pg-"))
    data = base / "pgdata"
    env = dict(os.environ)
    run_as: list[str] = []
    if os.geteuid() == 0:
        # initdb refuses to run as root: run the cluster as an unprivileged user.
        shutil.chown(base, user="nobody")
        run_as = ["runuser", "-u", "nobody", "--"]
    port = free_port()
    subprocess.run(
        [
            *run_as,
            str(bin_dir / "initdb"),
            "-D",
            str(data),
            "-U",
            "offload",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    log = base / "pg.log"
    subprocess.run(
        [
            *run_as,
            str(bin_dir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(log),
            "-w",
            "-o",
            f"-p {port} -k {base} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300",
            "start",
        ],
        check=True,
        capture_output=True,
        env=env,
    )
    try:
        yield PgCluster(bin_dir=bin_dir, data_dir=data, port=port)
    finally:
        subprocess.run(
            [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            env=env,
        )
        shutil.rmtree(base, ignore_errors=True)
