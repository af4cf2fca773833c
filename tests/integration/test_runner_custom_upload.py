"""PeerTube's custom uploads: an output with `<field>CustomUpload {url, method}` goes to that URL
and the success call leaves that file out. Offload instances never ask for one, and PeerTube's
success validator (like Offload's) still requires every file, so the instance side here is a
minimal loopback stand-in that records the success call; the storage is another loopback server."""

from __future__ import annotations

from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import pytest

from offload.runner.client import InstanceClient, RetryPolicy
from offload.runner.custom_upload import CustomUpload, custom_uploads_of
from offload.runner.errors import TransferError
from tests.loopback import Answer, Seen, loopback_server

JOB = "5a3b0f44-8a2c-4c1e-9f6e-2d7a9b1c0e11"
VIDEO = b"\x00\x00\x00\x18ftypiso5 fragmented video" * 50


async def _no_sleep(_: float) -> None:
    return None


def _parts(seen: Seen) -> dict[str, Message]:
    """The multipart parts of a request body, by field name."""
    head = f"Content-Type: {seen.headers['content-type']}\r\n\r\n".encode()
    message = BytesParser(policy=HTTP).parsebytes(head + seen.body)
    return {
        str(part.get_param("name", header="content-disposition")): part
        for part in message.iter_parts()
    }  # type: ignore[attr-defined]


def _outputs(tmp_path: Path) -> dict[str, Path]:
    video = tmp_path / "720-fragmented.mp4"
    video.write_bytes(VIDEO)
    playlist = tmp_path / "720.m3u8"
    playlist.write_bytes(b"#EXTM3U\n")
    return {"videoFile": video, "resolutionPlaylistFile": playlist}


def _hls_payload(custom: dict[str, Any]) -> dict[str, Any]:
    return {
        "input": {"videoFileUrl": "http://x/max-quality"},
        "output": {"resolution": 720, "fps": 30, "separatedAudio": False, **custom},
    }


class TestCustomUpload:
    @pytest.mark.parametrize(("method", "answer"), [(None, 200), ("PUT", 204), ("POST", 201)])
    async def test_the_file_goes_to_its_url_and_success_omits_it(
        self, tmp_path: Path, method: str | None, answer: int
    ) -> None:
        """The video goes to the storage as multipart `file` (PUT unless POST is asked, query kept, no token); success carries only the playlist."""
        with (
            loopback_server(lambda seen: Answer(answer)) as storage,
            loopback_server(lambda seen: Answer(204)) as instance,
        ):
            upload = {
                "url": f"{storage.url}/bucket/720-fragmented.mp4?X-Amz-Signature=abc",
                **({"method": method} if method else {}),
            }
            uploads = custom_uploads_of(_hls_payload({"videoFileCustomUpload": upload}))
            async with InstanceClient(
                instance.url, retry=RetryPolicy(attempts=2), sleep=_no_sleep
            ) as client:
                await client.success(
                    "ptrt-secret", JOB, "ptrjt-secret", _outputs(tmp_path), custom_uploads=uploads
                )

        [stored] = storage.seen
        [success] = instance.seen
        stored_parts = _parts(stored)

        assert (method or "PUT", "/bucket/720-fragmented.mp4?X-Amz-Signature=abc") == (
            stored.method,
            stored.target,
        )
        assert (["file"], VIDEO, "video/mp4") == (
            list(stored_parts),
            stored_parts["file"].get_payload(decode=True),
            stored_parts["file"].get_content_type(),
        )
        assert (str(len(stored.body)), False) == (
            stored.headers.get("content-length"),
            b"secret" in stored.body or "secret" in str(stored.headers),
        )
        assert f"/api/v1/runners/jobs/{JOB}/success" == success.path
        assert ["runnerToken", "jobToken", "payload[resolutionPlaylistFile]"] == list(
            _parts(success)
        )

    async def test_a_refused_custom_upload_fails_before_success(self, tmp_path: Path) -> None:
        """Storage answering 403 fails the job with the URL (without its signature); no success is sent."""
        with (
            loopback_server(lambda seen: Answer(403)) as storage,
            loopback_server(lambda seen: Answer(204)) as instance,
        ):
            uploads = custom_uploads_of(
                _hls_payload(
                    {
                        "videoFileCustomUpload": {
                            "url": f"{storage.url}/bucket/v.mp4?X-Amz-Signature=abc"
                        }
                    }
                )
            )
            async with InstanceClient(
                instance.url, retry=RetryPolicy(attempts=2), sleep=_no_sleep
            ) as client:
                with pytest.raises(TransferError) as caught:
                    await client.success(
                        "ptrt-secret",
                        JOB,
                        "ptrjt-secret",
                        _outputs(tmp_path),
                        custom_uploads=uploads,
                    )

        assert ([], True, False) == (
            instance.seen,
            f"{storage.url}/bucket/v.mp4" in str(caught.value),
            "Signature" in str(caught.value),
        )

    async def test_a_put_is_retried_after_a_5xx(self, tmp_path: Path) -> None:
        """A PUT may be repeated: a 503 from the storage is retried."""
        answers = [Answer(503), Answer(200)]
        with (
            loopback_server(lambda seen: answers.pop(0)) as storage,
            loopback_server(lambda seen: Answer(204)) as instance,
        ):
            uploads = custom_uploads_of(
                _hls_payload({"videoFileCustomUpload": {"url": f"{storage.url}/v.mp4"}})
            )
            async with InstanceClient(
                instance.url, retry=RetryPolicy(attempts=2), sleep=_no_sleep
            ) as client:
                await client.success(
                    "ptrt-secret", JOB, "ptrjt-secret", _outputs(tmp_path), custom_uploads=uploads
                )

        assert (2, 1) == (len(storage.seen), len(instance.seen))


class TestDescriptors:
    def test_descriptors_are_read_per_file_field(self) -> None:
        """Every `output.<field>CustomUpload` becomes one upload keyed by the file field; PUT is the default."""
        payload = _hls_payload(
            {
                "videoFileCustomUpload": {"url": "https://s3.test/v"},
                "resolutionPlaylistFileCustomUpload": {
                    "url": "https://s3.test/p",
                    "method": "POST",
                },
            }
        )

        assert {
            "videoFile": CustomUpload("https://s3.test/v", "PUT"),
            "resolutionPlaylistFile": CustomUpload("https://s3.test/p", "POST"),
        } == custom_uploads_of(payload)
        assert {} == custom_uploads_of({"input": {}})

    @pytest.mark.parametrize(
        "descriptor",
        [
            {"url": "ftp://s3.test/v"},
            {"url": "https://s3.test/v", "method": "DELETE"},
            {"method": "PUT"},
            "https://s3.test/v",
        ],
    )
    def test_a_bad_descriptor_is_refused(self, descriptor: object) -> None:
        """A descriptor without an http(s) URL or with a method other than PUT/POST is an error naming the field."""
        with pytest.raises(ValueError, match="videoFileCustomUpload"):
            custom_uploads_of(_hls_payload({"videoFileCustomUpload": descriptor}))
