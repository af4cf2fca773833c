"""PeerTube's resumable upload: chunks with Content-Range, a connection dropped halfway, resume."""

from __future__ import annotations

import contextlib
import re
import socket
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx

from tests.clips import MediaClips, jobs_of
from tests.support import RunningInstance, wait_until


def start(
    instance: RunningInstance, size: int, name: str = "resumed video", filename: str = "clip.mp4"
) -> str:
    with instance.admin() as c:
        r = c.post(
            "/api/v1/videos/upload-resumable",
            json={"name": name, "filename": filename, "channelId": 1},
            headers={"X-Upload-Content-Length": str(size), "X-Upload-Content-Type": "video/mp4"},
        )
    assert 201 == r.status_code, r.text
    return str(r.headers["location"])


def put(
    instance: RunningInstance, location: str, data: bytes, content_range: str
) -> httpx.Response:
    with instance.admin() as c:
        return c.put(
            location,
            content=data,
            headers={"Content-Range": content_range, "Content-Type": "application/octet-stream"},
        )


def received(instance: RunningInstance, location: str, total: int) -> int:
    r = put(instance, location, b"", f"bytes */{total}")
    assert 308 == r.status_code, r.text
    match = re.fullmatch(r"bytes=0-(\d+)", r.headers.get("range", ""))
    return int(match.group(1)) + 1 if match else 0


@contextlib.contextmanager
def half_sent(
    instance: RunningInstance, location: str, data: bytes, start_at: int, total: int, sent: int
) -> Iterator[None]:
    """Announce the rest of the file, send only `sent` bytes of it; hang up on leaving."""
    url = urlsplit(instance.url)
    head = (
        f"PUT {location} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {instance.admin_token()}\r\n"
        f"Content-Type: application/octet-stream\r\nContent-Length: {len(data)}\r\n"
        f"Content-Range: bytes {start_at}-{start_at + len(data) - 1}/{total}\r\n\r\n"
    )
    with socket.create_connection((url.hostname, url.port), timeout=10) as s:
        s.sendall(head.encode() + data[:sent])
        yield


def test_upload_interrupted_halfway_resumes(
    instance: RunningInstance, media_clips: MediaClips
) -> None:
    """First half sent, the second chunk cut by a dropped connection, the rest resumed: one video."""
    data = media_clips.small.read_bytes()
    total, half = len(data), len(data) // 2
    location = start(instance, total)

    first = put(instance, location, data[:half], f"bytes 0-{half - 1}/{total}")
    with half_sent(instance, location, data[half:], half, total, sent=1000):
        wait_until(
            lambda: received(instance, location, total) == half + 1000,
            message="the instance to take in the sent bytes",
        )
    held = received(instance, location, total)
    last = put(instance, location, data[held:], f"bytes {held}-{total - 1}/{total}")
    with instance.client() as c:
        video = c.get(f"/api/v1/videos/{last.json()['video']['uuid']}").json()
        stored = c.get(video["files"][0]["fileUrl"]).content

    assert (308, f"bytes=0-{half - 1}") == (first.status_code, first.headers["range"])
    assert half + 1000 == held
    assert 200 == last.status_code, last.text
    assert "resumed video" == video["name"]
    assert data == stored
    # The upload's owner is its video's uploader: root's first video of the week, N = 1.
    assert {101, 10001} >= {j["priority"] for j in jobs_of(instance)}
    assert 101 == jobs_of(instance)[0]["priority"]


def test_status_of_a_fresh_upload_has_no_range(
    instance: RunningInstance, media_clips: MediaClips
) -> None:
    """Before any byte, the status answer is 308 without a Range header."""
    location = start(instance, 1000)

    r = put(instance, location, b"", "bytes */1000")

    assert (308, None) == (r.status_code, r.headers.get("range"))


def test_resumable_non_media_is_refused_and_forgotten(
    instance: RunningInstance, media_clips: MediaClips
) -> None:
    """A text file sent resumably gets 422 on its last chunk and the upload is gone."""
    data = media_clips.text.read_bytes()
    location = start(instance, len(data), filename="notes.mp4")

    last = put(instance, location, data, f"bytes 0-{len(data) - 1}/{len(data)}")
    after = put(instance, location, b"", f"bytes */{len(data)}")

    assert 422 == last.status_code
    assert 404 == after.status_code
    with instance.client() as c:
        assert 0 == c.get("/api/v1/videos").json()["total"]


def test_cancel_and_bad_requests(instance: RunningInstance) -> None:
    """DELETE cancels; a missing size, a range past the end or an anonymous caller are refused."""
    location = start(instance, 100)
    with instance.admin() as c:
        no_size = c.post(
            "/api/v1/videos/upload-resumable", json={"name": "no size", "filename": "a.mp4"}
        )
        cancelled = c.delete(location)
    past_end = put(instance, start(instance, 100), b"x", "bytes 100-100/100")
    with instance.client() as c:
        anonymous = c.put(location, content=b"", headers={"Content-Range": "bytes */100"})

    assert (400, 204, 400, 401) == (
        no_size.status_code,
        cancelled.status_code,
        past_end.status_code,
        anonymous.status_code,
    )
    assert 404 == put(instance, location, b"", "bytes */100").status_code
