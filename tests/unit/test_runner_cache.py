"""The input cache shares one download between the renditions of a video, bounded by size."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx

from offload.runner.cache import InputCache, cache_key, same_content


class FakeInstance:
    """Serves one file whose content can change, answering like the client's `download`."""

    def __init__(self, content: bytes, etag: str = '"1"') -> None:
        self.content = content
        self.etag = etag
        self.bodies_sent = 0

    def headers(self) -> httpx.Headers:
        return httpx.Headers({"content-length": str(len(self.content)), "etag": self.etag})

    async def download(
        self, destination: Path, reuse: Callable[[httpx.Headers], bool]
    ) -> httpx.Headers | None:
        await asyncio.sleep(0)  # let concurrent jobs interleave
        if reuse(self.headers()):
            return None
        self.bodies_sent += 1
        destination.write_bytes(self.content)
        return self.headers()


def test_key_ignores_the_job_in_the_url() -> None:
    """Two jobs asking for one video's max-quality file share a key; audio and other instances do not."""
    a = cache_key(
        "https://i.example", "https://i.example/api/v1/runners/jobs/J1/files/videos/V/max-quality"
    )
    b = cache_key(
        "https://i.example/", "https://i.example/api/v1/runners/jobs/J2/files/videos/V/max-quality"
    )
    audio = cache_key(
        "https://i.example",
        "https://i.example/api/v1/runners/jobs/J2/files/videos/V/max-quality/audio",
    )
    other = cache_key(
        "https://j.example", "https://i.example/api/v1/runners/jobs/J2/files/videos/V/max-quality"
    )

    assert (True, False, False) == (a == b, a == audio, a == other)


def test_same_content_needs_equal_length_and_validators() -> None:
    """Length must match; ETag and Last-Modified must match where present."""
    stored = {"content-length": "10", "etag": '"a"'}

    assert (True, False, False, False) == (
        same_content(stored, httpx.Headers({"content-length": "10", "etag": '"a"'})),
        same_content(stored, httpx.Headers({"content-length": "10", "etag": '"b"'})),
        same_content(stored, httpx.Headers({"content-length": "11", "etag": '"a"'})),
        same_content({}, httpx.Headers({"content-length": "10"})),
    )


async def test_renditions_share_one_download(tmp_path: Path) -> None:
    """Three concurrent jobs of one video: one body transferred, one file."""
    cache = InputCache(tmp_path / "inputs", max_bytes=1_000_000)
    instance = FakeInstance(b"source video")

    paths = await asyncio.gather(*(cache.acquire("k", instance.download) for _ in range(3)))

    assert (1, 1, b"source video") == (instance.bodies_sent, len(set(paths)), paths[0].read_bytes())


async def test_changed_file_is_downloaded_again(tmp_path: Path) -> None:
    """After the optimize job replaced the max-quality file, the new one is fetched."""
    cache = InputCache(tmp_path / "inputs", max_bytes=1_000_000)
    instance = FakeInstance(b"original upload")
    first = await cache.acquire("k", instance.download)
    instance.content, instance.etag = b"optimized", '"2"'

    second = await cache.acquire("k", instance.download)

    assert (2, b"optimized", b"original upload") == (
        instance.bodies_sent,
        second.read_bytes(),
        first.read_bytes(),
    )
    cache.release(first)
    assert not first.exists()  # the replaced copy goes once its last user is done


async def test_unused_entries_are_evicted_beyond_the_bound(tmp_path: Path) -> None:
    """With room for one file, releasing two leaves only the most recent."""
    cache = InputCache(tmp_path / "inputs", max_bytes=12)
    a = await cache.acquire("a", FakeInstance(b"0123456789").download)
    b = await cache.acquire("b", FakeInstance(b"abcdefghij").download)
    cache.release(a)
    cache.release(b)

    assert (False, True, 10) == (a.exists(), b.exists(), cache.total_bytes)


async def test_files_in_use_are_never_evicted(tmp_path: Path) -> None:
    """A zero bound still keeps what a job is reading, and drops it on release."""
    cache = InputCache(tmp_path / "inputs", max_bytes=0)
    path = await cache.acquire("a", FakeInstance(b"0123456789").download)

    assert path.exists()
    cache.release(path)
    assert not path.exists()
