"""Every body but an upload is capped (`request_body_max_bytes`, 1 MiB by default) before any
route reads it: a larger declared length is refused unread, a chunked body as it crosses the
cap; upload routes keep their own caps."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.rawhttp import assert_too_large, chunked, send_partial
from tests.support import RunningInstance

MIB = 1024 * 1024
REGISTER = "/api/v1/runners/register"


def _registration_token(instance: RunningInstance) -> str:
    with instance.admin() as admin:
        return str(
            admin.get("/api/v1/runners/registration-tokens").json()["data"][0]["registrationToken"]
        )


def _register_json(instance: RunningInstance, padding: int) -> bytes:
    body = {
        "registrationToken": _registration_token(instance),
        "name": "big",
        "description": "d" * padding,
    }
    return json.dumps(body).encode()


@pytest.mark.parametrize(
    ("path", "content_type"),
    [(REGISTER, "application/json"), ("/api/v1/users/token", "application/x-www-form-urlencoded")],
)
def test_a_declared_length_over_the_cap_is_refused_unread(
    instance: RunningInstance, path: str, content_type: str
) -> None:
    """A Content-Length over 1 MiB on an unauthenticated route is a 413 before the body is sent."""
    headers = {"Content-Type": content_type, "Content-Length": str(150 * MIB)}

    assert_too_large(send_partial(instance.url, "POST", path, headers, b""))


@pytest.mark.parametrize(
    ("path", "content_type"),
    [(REGISTER, "application/json"), ("/api/v1/users/token", "application/x-www-form-urlencoded")],
)
def test_a_chunked_body_over_the_cap_is_refused_as_it_streams(
    instance: RunningInstance, path: str, content_type: str
) -> None:
    """A chunked body is counted as it arrives: 1.5 MiB of a body without end gets a 413."""
    headers = {"Content-Type": content_type, "Transfer-Encoding": "chunked"}
    sent = chunked(_register_json(instance, 3 * MIB)[: 3 * MIB // 2], last=False)

    assert_too_large(send_partial(instance.url, "POST", path, headers, sent))


def test_the_cap_is_a_setting_and_a_body_within_it_passes(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """With `request_body_max_bytes` at 64 KiB a 100 KiB registration is a 413 while the same
    call of 10 KiB registers, chunked or not."""
    instance = instance_factory(request_body_max_bytes=64 * 1024)
    with instance.client() as client:
        big = client.post(
            REGISTER,
            content=_register_json(instance, 100 * 1024),
            headers={"Content-Type": "application/json"},
        )
        small = client.post(
            REGISTER,
            content=_register_json(instance, 500),
            headers={"Content-Type": "application/json"},
        )
    streamed = send_partial(
        instance.url,
        "POST",
        REGISTER,
        {"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
        chunked(
            json.dumps(
                {"registrationToken": _registration_token(instance), "name": "streamed"}
            ).encode(),
            size=16,
        ),
    )

    assert (413, 200, 200) == (big.status_code, small.status_code, streamed.status)
    assert "PayloadTooLargeError" == big.json()["code"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/api/v1/runners/jobs/0b7e4d2e-5e5a-4a7e-9c1a-3f0f4a7e2b10/success"),
        ("POST", "/api/v1/videos/upload"),
        ("PUT", "/api/v1/videos/upload-resumable?upload_id=" + "0" * 32),
    ],
)
def test_upload_routes_are_left_to_their_own_caps(
    instance: RunningInstance, method: str, path: str
) -> None:
    """A 150 MiB upload is not the generic cap's to refuse: the route answers (here: no
    tokens, no admin) instead of a 413."""
    headers = {
        "Content-Type": "multipart/form-data; boundary=b0undary",
        "Content-Length": str(150 * MIB),
    }
    sent = b'--b0undary\r\nContent-Disposition: form-data; name="payload[videoFile]"; filename="o"\r\n\r\n'

    answer = send_partial(instance.url, method, path, headers, sent)

    assert answer.status in (400, 401), answer.body
