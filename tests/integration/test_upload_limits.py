"""Upload limits on both databases: the size cap, each user's video quota (PeerTube's
`videoQuota` / `videoQuotaDaily`), the duration cap, abandoned resumable uploads expiring, and
uploads staying in the temp dir until they are complete."""

from __future__ import annotations

import contextlib
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from tests.clips import MediaClips, upload
from tests.support import RunningInstance, create_user, login, wait_until


def files_under(instance: RunningInstance, *parts: str) -> list[Path]:
    root = Path(instance.settings.data_dir).joinpath(*parts)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def problem_of(r: httpx.Response) -> tuple[int, str | None]:
    assert "application/problem+json" == r.headers["content-type"], r.text
    return r.status_code, r.json().get("code")


def video_count(instance: RunningInstance) -> int:
    with instance.client() as c:
        return int(c.get("/api/v1/videos").json()["total"])


def start_resumable(client: httpx.Client, size: int, filename: str = "clip.mp4") -> httpx.Response:
    return client.post(
        "/api/v1/videos/upload-resumable",
        json={"name": "resumable clip", "filename": filename},
        headers={"X-Upload-Content-Length": str(size), "X-Upload-Content-Type": "video/mp4"},
    )


def put_chunk(
    client: httpx.Client, location: str, data: bytes, content_range: str
) -> httpx.Response:
    return client.put(
        location,
        content=data,
        headers={"Content-Range": content_range, "Content-Type": "application/octet-stream"},
    )


def multipart_body(data: bytes, name: str = "raw clip") -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n{name}\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="videofile"; filename="clip.mp4"\r\n'
            "Content-Type: video/mp4\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return f"multipart/form-data; boundary={boundary}", body


def open_socket(
    instance: RunningInstance, path: str, headers: dict[str, str]
) -> tuple[socket.socket, bytes]:
    """A connection to the instance and the head of an authenticated POST to send on it."""
    url = urlsplit(instance.url)
    assert url.hostname is not None and url.port is not None
    head = f"POST {path} HTTP/1.1\r\nHost: {url.netloc}\r\nAuthorization: Bearer {instance.admin_token()}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
    return socket.create_connection((url.hostname, url.port), timeout=10), head.encode()


def raw_post(
    instance: RunningInstance, path: str, headers: dict[str, str], body: bytes = b""
) -> tuple[int, bytes]:
    """POST by hand, sending only `body` (maybe less than announced), then read the answer's head."""
    s, head = open_socket(instance, path, headers)
    with s:
        s.sendall(head + body)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = s.recv(65536)
            if not chunk:
                break
            answer += chunk
    return int(answer.split(b"\r\n", 1)[0].split()[1]), answer


@contextlib.contextmanager
def half_sent_upload(instance: RunningInstance, clip: bytes) -> Iterator[None]:
    """A multipart upload with half its body sent, held open until the block ends, then dropped."""
    content_type, body = multipart_body(clip)
    s, head = open_socket(
        instance,
        "/api/v1/videos/upload",
        {"Content-Type": content_type, "Content-Length": str(len(body))},
    )
    with s:
        s.sendall(head + body[: len(body) // 2])
        wait_until(
            lambda: len(files_under(instance, "tmp", "uploads")) == 1,
            message="the multipart upload to spool",
        )
        yield


class TestSizeCap:
    def test_a_declared_size_over_the_cap_is_refused_before_reading(
        self, instance_factory: Callable[..., RunningInstance]
    ) -> None:
        """A multipart upload announcing 1 GB and a resumable one announcing cap + 1 get 413
        max_file_size_reached at once, without a body byte sent."""
        instance = instance_factory(upload_max_bytes=100_000)
        content_type, _ = multipart_body(b"")

        status, answer = raw_post(
            instance,
            "/api/v1/videos/upload",
            {"Content-Type": content_type, "Content-Length": str(10**9)},
        )
        with instance.admin() as c:
            resumable = start_resumable(c, 100_001)

        assert 413 == status
        assert b"max_file_size_reached" in answer
        assert (413, "max_file_size_reached") == problem_of(resumable)
        assert (
            "This file is too large. It exceeds the maximum file size authorized"
            == resumable.json()["detail"]
        )
        assert [] == files_under(instance, "tmp")

    def test_a_body_longer_than_it_said_is_cut_while_streaming(
        self, instance_factory: Callable[..., RunningInstance]
    ) -> None:
        """A chunked multipart body (no Content-Length) that runs past the cap gets 413 while
        it is still sending, and its temp file is gone."""
        instance = instance_factory(upload_max_bytes=100_000)
        content_type, body = multipart_body(b"\x00" * 12_000_000)
        chunked = b"".join(
            f"{len(part):x}\r\n".encode() + part + b"\r\n"
            for part in (body[i : i + 65536] for i in range(0, len(body), 65536))
        )

        # No terminating chunk: the instance must answer before the body ends.
        status, answer = raw_post(
            instance,
            "/api/v1/videos/upload",
            {"Content-Type": content_type, "Transfer-Encoding": "chunked"},
            chunked,
        )

        assert 413 == status
        assert b"max_file_size_reached" in answer
        assert [] == files_under(instance, "tmp")
        assert 0 == video_count(instance)

    def test_a_file_over_the_cap_is_refused_whole(
        self, instance_factory: Callable[..., RunningInstance], media_clips: MediaClips
    ) -> None:
        """A file just over the cap, small enough to be read, is refused after reading, on both paths."""
        size = media_clips.small.stat().st_size
        instance = instance_factory(upload_max_bytes=size - 1)

        legacy = upload(instance, media_clips.small)
        with instance.admin() as c:
            resumable = start_resumable(c, size)

        assert (413, "max_file_size_reached") == problem_of(legacy)
        assert (413, "max_file_size_reached") == problem_of(resumable)
        assert [] == files_under(instance, "tmp") + files_under(instance, "web-videos")

    def test_a_chunk_longer_than_its_range_ends_the_upload(self, instance: RunningInstance) -> None:
        """A PUT whose body is longer than its Content-Range gets 413 and the upload is dropped."""
        with instance.admin() as c:
            location = start_resumable(c, 1000).headers["location"]
            overrun = put_chunk(c, location, b"x" * 200, "bytes 0-99/1000")
            after = put_chunk(c, location, b"", "bytes */1000")

        assert 413 == overrun.status_code, overrun.text
        assert 404 == after.status_code
        assert [] == files_under(instance, "tmp")


class TestQuota:
    @staticmethod
    def user_client(instance: RunningInstance, username: str, **quota: int) -> httpx.Client:
        token = login(instance.url, username, create_user(instance, username, role=0, **quota))
        return instance.client(headers={"Authorization": f"Bearer {token}"})

    def test_the_upload_that_would_reach_the_quota_is_refused(
        self, instance_factory: Callable[..., RunningInstance], media_clips: MediaClips
    ) -> None:
        """With the default quota at 1.5 clips, bob's first clip passes and the second gets 413
        quota_reached on both paths; root is unlimited; /users/me shows quota and use."""
        clip = media_clips.small.read_bytes()
        quota = len(clip) * 3 // 2
        instance = instance_factory(user_video_quota_bytes=quota)

        with self.user_client(instance, "bob") as bob:
            first = bob.post(
                "/api/v1/videos/upload",
                data={"name": "bob one"},
                files={"videofile": ("a.mp4", clip)},
            )
            second = bob.post(
                "/api/v1/videos/upload",
                data={"name": "bob two"},
                files={"videofile": ("b.mp4", clip)},
            )
            resumable = start_resumable(bob, len(clip))
            me = bob.get("/api/v1/users/me").json()
            used = bob.get("/api/v1/users/me/video-quota-used").json()
        root_uploads = [upload(instance, media_clips.small).status_code for _ in range(2)]

        assert 200 == first.status_code, first.text
        assert (413, "quota_reached") == problem_of(second)
        assert "The user video quota is exceeded with this video" == second.json()["detail"]
        assert (413, "quota_reached") == problem_of(resumable)
        assert (quota, -1) == (me["videoQuota"], me["videoQuotaDaily"])
        assert {"videoQuotaUsed": len(clip), "videoQuotaUsedDaily": len(clip)} == used
        assert [200, 200] == root_uploads
        assert 3 == video_count(instance)
        assert [] == files_under(instance, "tmp")

    def test_the_quota_is_checked_again_when_an_upload_completes(
        self, instance_factory: Callable[..., RunningInstance], media_clips: MediaClips
    ) -> None:
        """Two resumable uploads opened while the quota had room for one: the one finished
        second gets 413 quota_reached and leaves nothing."""
        clip = media_clips.small.read_bytes()
        instance = instance_factory(user_video_quota_bytes=len(clip) * 3 // 2)
        whole = f"bytes 0-{len(clip) - 1}/{len(clip)}"

        with self.user_client(instance, "dave") as dave:
            first, second = (start_resumable(dave, len(clip)).headers["location"] for _ in range(2))
            done = put_chunk(dave, first, clip, whole)
            refused = put_chunk(dave, second, clip, whole)

        assert 200 == done.status_code, done.text
        assert (413, "quota_reached") == problem_of(refused)
        assert 1 == video_count(instance)
        assert 1 == len(files_under(instance, "web-videos"))
        assert [] == files_under(instance, "tmp")

    def test_a_users_own_daily_quota_counts_the_last_24_hours(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """A user created with `videoQuotaDaily` of 1.5 clips (and an unlimited total) gets
        quota_reached on the second clip of the day."""
        clip = media_clips.small.read_bytes()

        with self.user_client(
            instance, "carol", videoQuota=-1, videoQuotaDaily=len(clip) * 3 // 2
        ) as carol:
            first = carol.post(
                "/api/v1/videos/upload",
                data={"name": "carol one"},
                files={"videofile": ("a.mp4", clip)},
            )
            second = carol.post(
                "/api/v1/videos/upload",
                data={"name": "carol two"},
                files={"videofile": ("b.mp4", clip)},
            )
            me = carol.get("/api/v1/users/me").json()

        assert 200 == first.status_code, first.text
        assert (413, "quota_reached") == problem_of(second)
        assert (-1, len(clip) * 3 // 2) == (me["videoQuota"], me["videoQuotaDaily"])


class TestDurationCap:
    def test_a_video_longer_than_the_cap_is_refused_and_nothing_stays(
        self, instance_factory: Callable[..., RunningInstance], media_clips: MediaClips
    ) -> None:
        """With a 0.5 s cap the 1 s clip gets 403 on both paths; no video, no file, no upload left."""
        instance = instance_factory(upload_max_duration_s=0.5)
        clip = media_clips.small.read_bytes()

        legacy = upload(instance, media_clips.small)
        with instance.admin() as c:
            location = start_resumable(c, len(clip)).headers["location"]
            resumable = put_chunk(c, location, clip, f"bytes 0-{len(clip) - 1}/{len(clip)}")
            after = put_chunk(c, location, b"", f"bytes */{len(clip)}")

        assert (403, None) == problem_of(legacy)
        assert "longer than the 0.5 s" in legacy.json()["detail"]
        assert (403, None) == problem_of(resumable)
        assert 404 == after.status_code
        assert 0 == video_count(instance)
        assert [] == files_under(instance, "tmp") + files_under(
            instance, "web-videos"
        ) + files_under(instance, "previews")


class TestResumableExpiry:
    def test_an_abandoned_upload_expires_with_its_bytes(
        self, instance_factory: Callable[..., RunningInstance], media_clips: MediaClips
    ) -> None:
        """Untouched past `resumable_upload_expiry_s`, a half-sent upload is swept by the
        janitor: its bytes are deleted and its id answers 404."""
        instance = instance_factory(resumable_upload_expiry_s=1.0)
        clip = media_clips.small.read_bytes()
        with instance.admin() as c:
            location = start_resumable(c, len(clip)).headers["location"]
            half = put_chunk(c, location, clip[:1000], f"bytes 0-999/{len(clip)}")
            held = files_under(instance, "tmp", "resumable")

            wait_until(
                lambda: not files_under(instance, "tmp", "resumable"),
                timeout_s=15,
                message="the janitor to drop the upload",
            )
            after = put_chunk(c, location, clip[1000:], f"bytes 1000-{len(clip) - 1}/{len(clip)}")

        assert 308 == half.status_code, half.text
        assert 1 == len(held)
        assert (404, "Upload not found") == (after.status_code, after.json()["detail"])
        assert 0 == video_count(instance)

    def test_bytes_left_without_their_upload_go_too(
        self, instance_factory: Callable[..., RunningInstance]
    ) -> None:
        """A resumable file with no upload row (a crash between the two deletions), older than
        the expiry, is deleted by the janitor."""
        instance = instance_factory(resumable_upload_expiry_s=1.0)
        leftover = Path(instance.settings.data_dir) / "tmp" / "resumable" / ("0" * 32)
        leftover.write_bytes(b"half an upload")
        os.utime(leftover, (leftover.stat().st_atime - 60, leftover.stat().st_mtime - 60))

        wait_until(
            lambda: not leftover.exists(),
            timeout_s=15,
            message="the janitor to delete the leftover bytes",
        )

        assert [] == files_under(instance, "tmp")


class TestInFlight:
    def test_uploads_stay_in_the_temp_dir_until_complete(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """Half a multipart upload and half a resumable one live under tmp/, none under
        web-videos/; the finished resumable one is moved into place, the dropped multipart one
        leaves nothing."""
        clip = media_clips.small.read_bytes()
        with instance.admin() as c:
            location = start_resumable(c, len(clip)).headers["location"]
            put_chunk(c, location, clip[:1000], f"bytes 0-999/{len(clip)}")
            with half_sent_upload(instance, clip):
                in_flight = sorted(
                    p.relative_to(instance.settings.data_dir).parts[:2]
                    for p in files_under(instance)
                )
            done = put_chunk(c, location, clip[1000:], f"bytes 1000-{len(clip) - 1}/{len(clip)}")
        wait_until(
            lambda: not files_under(instance, "tmp"), message="the dropped upload's temp file to go"
        )

        assert [("tmp", "resumable"), ("tmp", "uploads")] == in_flight
        assert 200 == done.status_code, done.text
        assert [clip] == [p.read_bytes() for p in files_under(instance, "web-videos")]
        assert 1 == video_count(instance)
