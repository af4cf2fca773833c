"""Benchmark 7: oversized bodies — the instance's memory while 20 clients post huge bodies at once.

Each client opens its own connection to the instance (on 127.0.0.1) and streams a 150 MiB body
until the instance answers (or drops the connection); three cases, one after the other:

* JSON to `/api/v1/runners/register` with its Content-Length declared (refused unread);
* the same JSON chunked, without a length (refused once the cap is crossed);
* multipart to a runner `success` route with a runner token and no such job (refused when the
  first file part begins, before any of it is kept).

The instance's RSS is read before each case, its peak (VmHWM, reset before the case) during,
and its RSS once every client is done. Flat is the expected shape: before the body caps, one
150 MB JSON body took an instance from 170 to 588 MB.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bench.dispatch import register_runner
from bench.harness import Row, peak_rss_kib, reset_peak_rss, rss_kib, serve_subprocess

__all__ = ["oversized_bodies"]

_MIB = 1024 * 1024
_PIECE = 64 * 1024
#: No client waits longer than this for its answer (the bench's bound in time).
_CLIENT_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class _Case:
    name: str
    path: str
    head: dict[str, str]
    prefix: bytes
    chunked: bool


def oversized_bodies(clients: int, body_mib: int, rounds: int, work: Path) -> list[Row]:
    return asyncio.run(_oversized_bodies(clients, body_mib, rounds, work))


async def _oversized_bodies(clients: int, body_mib: int, rounds: int, work: Path) -> list[Row]:
    data_dir = work / "bodies"
    data_dir.mkdir(parents=True)
    rows = []
    with serve_subprocess(data_dir) as (url, proc, admin):
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            runner_token = await register_runner(client, admin, "bodies-bench")
        for case in _cases(runner_token, body_mib * _MIB):
            idle_kib = rss_kib(proc.pid)
            reset_peak_rss(proc.pid)
            answers: Counter[str] = Counter()
            sent = 0
            started = time.perf_counter()
            for _ in range(rounds):
                results = await asyncio.gather(
                    *(_post(url, case, body_mib * _MIB) for _ in range(clients))
                )
                answers.update(status for status, _ in results)
                sent += sum(n for _, n in results)
            elapsed = time.perf_counter() - started
            rows.append(
                Row(
                    "7 oversized bodies",
                    f"{case.name}: {clients} clients × {body_mib} MiB × {rounds}",
                    {
                        "instance idle MiB": _mib(idle_kib),
                        "instance peak MiB": _mib(peak_rss_kib(proc.pid)),
                        "instance after MiB": _mib(rss_kib(proc.pid)),
                        "answers": ", ".join(
                            f"{status} × {n}" for status, n in sorted(answers.items())
                        ),
                        "client MiB sent": round(sent / _MIB, 1),
                        "s": round(elapsed, 2),
                    },
                    method=f"{clients} concurrent raw connections to 127.0.0.1, each streaming its body in 64 KiB writes until the "
                    "instance answers; 'cut' = the instance closed the connection before the client read its answer (it stops reading "
                    "a refused body); peak = the instance's VmHWM over the case",
                )
            )
    return rows


def _cases(runner_token: str, size: int) -> list[_Case]:
    json_start = b'{"registrationToken": "ptrrt-none", "name": "big", "description": "'
    boundary = "b0undary"
    multipart_start = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="runnerToken"\r\n\r\n{runner_token}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="jobToken"\r\n\r\nptrjt-{uuid.uuid4()}\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="payload[videoFile]"; filename="out.mp4"\r\n\r\n'
    ).encode()
    success = f"/api/v1/runners/jobs/{uuid.uuid4()}/success"
    return [
        _Case(
            "JSON register, declared",
            "/api/v1/runners/register",
            {"Content-Type": "application/json", "Content-Length": str(size)},
            json_start,
            False,
        ),
        _Case(
            "JSON register, chunked",
            "/api/v1/runners/register",
            {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
            json_start,
            True,
        ),
        _Case(
            "multipart success, unknown job",
            success,
            {
                "Content-Type": f"multipart/form-data; boundary={boundary}",
                "Content-Length": str(size),
            },
            multipart_start,
            False,
        ),
    ]


def _pieces(case: _Case, size: int) -> Iterator[bytes]:
    """The body: the case's start, then filler up to `size` bytes, in 64 KiB writes."""
    yield case.prefix
    left = size - len(case.prefix)
    filler = b"x" * _PIECE
    while left > 0:
        piece = filler[: min(left, _PIECE)]
        left -= len(piece)
        yield piece


async def _post(url: str, case: _Case, size: int) -> tuple[str, int]:
    """Stream one body until the instance answers; (its status, or how it ended; bytes sent)."""
    parts = urlsplit(url)
    head = (
        f"POST {case.path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in case.head.items())
        + "\r\n"
    )
    reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
    sent = 0
    try:
        answer = asyncio.ensure_future(
            asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _CLIENT_TIMEOUT_S)
        )
        writer.write(head.encode())
        try:
            for piece in _pieces(case, size):
                if answer.done():
                    break
                writer.write(b"%x\r\n%s\r\n" % (len(piece), piece) if case.chunked else piece)
                await writer.drain()
                sent += len(piece)
            else:
                if case.chunked:
                    writer.write(b"0\r\n\r\n")
        except ConnectionError:
            pass  # the instance stopped reading; its answer may be waiting
        try:
            status_line = (await answer).split(b"\r\n", 1)[0]
            return status_line.split()[1].decode(), sent
        except (asyncio.IncompleteReadError, ConnectionError):
            return "cut", sent
        except TimeoutError:
            return "timeout", sent
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except ConnectionError:
            pass


def _mib(kib: int) -> float:
    return round(kib / 1024, 1)
