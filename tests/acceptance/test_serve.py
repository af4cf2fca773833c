"""`offload serve` as a subprocess: it announces itself only once its port is taken, and a port
in use is one clear line and a non-zero exit, not an announcement followed by a crash."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import free_port, wait_until


def serve_command(port: int, data_dir: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "offload.cli",
        "serve",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
    ]


def clean_env() -> dict[str, str]:
    """The test's environment without any OFFLOAD_* setting, and with this worktree's code."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OFFLOAD_")}
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(Path(__file__).parents[2] / "src"), env.get("PYTHONPATH")) if p
    )
    return env


@pytest.fixture
def held_port() -> Iterator[int]:
    """A port another process listens on."""
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield int(holder.getsockname()[1])


def test_a_port_in_use_is_one_clear_line_and_a_failure(held_port: int, tmp_path: Path) -> None:
    """Port taken: exit non-zero at once with one line naming the address and what to do, no announcement."""
    result = subprocess.run(
        serve_command(held_port, tmp_path / "data"),
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(),
    )

    assert 0 != result.returncode
    assert "listening on" not in result.stdout + result.stderr
    assert not (tmp_path / "data").exists(), "nothing is set up for a port it cannot have"
    assert [
        f"port {held_port} on 127.0.0.1 is in use: stop the other process or pass --port / OFFLOAD_LISTEN"
    ] == [line for line in result.stderr.splitlines() if line.strip()]


def test_the_announcement_comes_once_the_port_accepts_connections(tmp_path: Path) -> None:
    """On a free port, when "listening on" is printed a connection is already accepted and pings answer."""
    port = free_port()
    process = subprocess.Popen(
        serve_command(port, tmp_path / "data"),
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=clean_env(),
    )
    lines: list[str] = []

    def read_stderr() -> None:
        assert process.stderr is not None
        for line in process.stderr:
            lines.append(line)

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    try:
        wait_until(
            lambda: any("listening on" in line for line in lines) or process.poll() is not None,
            timeout_s=60,
            message="the announcement",
        )
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        ping = wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{port}/api/v1/ping", timeout=5),
            timeout_s=30,
            message="a ping",
        )
    finally:
        process.terminate()
        process.wait(timeout=30)
        reader.join(timeout=10)

    assert any(f"listening on http://127.0.0.1:{port}" in line for line in lines), lines
    assert 200 == ping.status_code
