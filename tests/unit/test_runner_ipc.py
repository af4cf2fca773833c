"""Local IPC over a Unix socket and the one-daemon-per-id lock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from offload.runner.errors import DaemonAlreadyRunning, DaemonNotRunning
from offload.runner.ipc import DaemonLock, IpcServer, ipc_request


def test_a_second_lock_on_the_same_id_is_refused(tmp_path: Path) -> None:
    """The second daemon sees the first one's pid instead of stealing its socket."""
    first, second = DaemonLock(tmp_path / "daemon.lock"), DaemonLock(tmp_path / "daemon.lock")
    first.acquire()
    try:
        with pytest.raises(DaemonAlreadyRunning) as caught:
            second.acquire()
    finally:
        first.release()

    assert "pid" in str(caught.value)


def test_the_lock_is_free_again_after_release(tmp_path: Path) -> None:
    """Releasing (or dying) frees the id."""
    lock = DaemonLock(tmp_path / "daemon.lock")
    lock.acquire()
    lock.release()
    again = DaemonLock(tmp_path / "daemon.lock")

    again.acquire()
    again.release()


async def test_request_and_answer(tmp_path: Path) -> None:
    """A request reaches the handler; its return value comes back as data."""
    seen: list[dict[str, Any]] = []

    async def handler(request: dict[str, Any]) -> Any:
        seen.append(request)
        return {"servers": []}

    server = IpcServer(tmp_path / "r.sock", handler)
    await server.start()
    try:
        data = await ipc_request(tmp_path / "r.sock", {"type": "list-registered"})
    finally:
        await server.stop()

    assert ({"servers": []}, [{"type": "list-registered"}]) == (data, seen)
    assert not (tmp_path / "r.sock").exists()


async def test_handler_errors_come_back_as_text(tmp_path: Path) -> None:
    """An exception in the daemon is the CLI's error message."""

    async def handler(request: dict[str, Any]) -> Any:
        raise ValueError("Registration token is invalid")

    server = IpcServer(tmp_path / "r.sock", handler)
    await server.start()
    try:
        with pytest.raises(RuntimeError) as caught:
            await ipc_request(tmp_path / "r.sock", {"type": "register"})
    finally:
        await server.stop()

    assert "Registration token is invalid" == str(caught.value)


async def test_no_daemon_is_daemon_not_running(tmp_path: Path) -> None:
    """A missing socket says the daemon must be started."""
    with pytest.raises(DaemonNotRunning):
        await ipc_request(tmp_path / "absent.sock", {"type": "list-jobs"})
