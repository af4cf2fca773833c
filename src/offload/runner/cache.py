"""An input cache: the renditions of one video share one download of its source.

PeerTube's file URLs carry the job in their path (`…/jobs/<job>/files/videos/<video>/max-quality`),
so the cache key is the URL without the job part. The file behind a key can change (the
"optimize" job replaces the max-quality file), so a cached copy is only reused when the
instance's answer to a new request has the same length and validators (ETag, Last-Modified)
as when it was stored; the body is then not read. Entries in use are never evicted; unused ones
go least recently used first once the total passes the size bound (0 = keep nothing unused).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import logging
import re
import shutil
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["InputCache", "cache_key", "same_content"]

log = logging.getLogger(__name__)

#: Downloads into `destination`, or returns None without writing when `reuse(headers)` says yes.
Download = Callable[[Path, Callable[[httpx.Headers], bool]], Awaitable[httpx.Headers | None]]

_JOB_SEGMENT = re.compile(r"/jobs/[^/]+/files/")
_VALIDATORS = ("content-length", "etag", "last-modified")


def cache_key(instance_url: str, file_url: str) -> str:
    """`…/jobs/<job>/files/videos/<v>/max-quality` → `…/files/videos/<v>/max-quality`: one key
    per file of a video, whichever job asks. The instance URL keeps instances apart."""
    return instance_url.rstrip("/") + " " + _JOB_SEGMENT.sub("/files/", file_url)


def same_content(stored: dict[str, str], headers: httpx.Headers) -> bool:
    """Whether an answer describes the stored bytes: equal length (required) and equal ETag and
    Last-Modified where either side has them."""
    if not stored.get("content-length") or stored.get("content-length") != headers.get(
        "content-length"
    ):
        return False
    return all(stored.get(name) == headers.get(name) for name in ("etag", "last-modified"))


@dataclass
class _Entry:
    key: str
    path: Path
    size: int
    validators: dict[str, str]
    refs: int = 0
    stale: bool = False
    last_used: float = field(default_factory=time.monotonic)


class InputCache:
    """Shared, size-bounded input files under one directory."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._entries: dict[str, _Entry] = {}
        self._by_path: dict[Path, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._counter = itertools.count()
        shutil.rmtree(directory, ignore_errors=True)  # nothing survives a restart: no validators
        directory.mkdir(parents=True, exist_ok=True)

    @property
    def total_bytes(self) -> int:
        return sum(e.size for e in self._by_path.values())

    async def acquire(self, key: str, download: Download) -> Path:
        """A local path holding the current content for `key`; call `release(path)` when done."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            entry = self._entries.get(key)

            def reuse(headers: httpx.Headers) -> bool:
                return (
                    entry is not None
                    and entry.path.exists()
                    and same_content(entry.validators, headers)
                )

            name = hashlib.sha256(key.encode()).hexdigest()[:24]
            target = self.directory / f"{name}-{next(self._counter)}"
            try:
                headers = await download(target, reuse)
            except BaseException:
                target.unlink(missing_ok=True)
                raise
            if headers is None and entry is not None:
                log.debug("input cache hit for %s", key)
                entry.refs += 1
                entry.last_used = time.monotonic()
                return entry.path
            if entry is not None:
                entry.stale = True  # replaced; deleted once its last user is done
                self._drop_if_unused(entry)
            fresh = _Entry(
                key,
                target,
                target.stat().st_size,
                {k: headers[k] for k in _VALIDATORS if headers and k in headers},
                refs=1,
            )
            self._entries[key] = fresh
            self._by_path[target] = fresh
            self._evict()
            return target

    def release(self, path: Path) -> None:
        entry = self._by_path.get(path)
        if entry is None:
            return
        entry.refs = max(0, entry.refs - 1)
        entry.last_used = time.monotonic()
        self._drop_if_unused(entry)
        self._evict()

    def clear(self) -> None:
        """Forget and delete everything (at shutdown)."""
        self._entries.clear()
        self._by_path.clear()
        shutil.rmtree(self.directory, ignore_errors=True)

    def _drop_if_unused(self, entry: _Entry) -> None:
        if entry.stale and entry.refs == 0:
            self._remove(entry)

    def _evict(self) -> None:
        unused = sorted(
            (e for e in self._by_path.values() if e.refs == 0), key=lambda e: e.last_used
        )
        for entry in unused:
            if self.total_bytes <= self.max_bytes:
                break
            self._remove(entry)

    def _remove(self, entry: _Entry) -> None:
        self._by_path.pop(entry.path, None)
        if self._entries.get(entry.key) is entry:
            del self._entries[entry.key]
        with contextlib.suppress(FileNotFoundError):
            entry.path.unlink()
