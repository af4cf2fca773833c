"""Shared pieces of the conformance tests: clients, a plain user, problem-JSON checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import RunningInstance, login

#: Query strings PeerTube's pagination validator refuses, with the field it names.
BAD_PAGINATION = [
    ({"start": "hello"}, "start"),
    ({"start": "-1"}, "start"),
    ({"count": "hello"}, "count"),
    ({"count": "2000"}, "count"),
    ({"sort": "hello"}, "sort"),
    ({"sort": "-hello"}, "sort"),
]


@pytest.fixture
def anon(instance: RunningInstance) -> Iterator[httpx.Client]:
    """An anonymous client (runner calls, 401 checks)."""
    with instance.client() as c:
        yield c


@pytest.fixture
def admin(instance: RunningInstance) -> Iterator[httpx.Client]:
    """A client with the root administrator's bearer token."""
    with instance.admin() as c:
        yield c


def user_client(instance: RunningInstance, admin: httpx.Client) -> httpx.Client:
    """A client logged in as a plain user (role 2), who lacks MANAGE_RUNNERS."""
    r = admin.post(
        "/api/v1/users",
        json={
            "username": "alice",
            "password": "alice-password",
            "email": "alice@example.com",
            "role": 2,
        },
    )
    assert 200 == r.status_code, r.text
    token = login(instance.url, "alice", "alice-password")
    return instance.client(headers={"Authorization": f"Bearer {token}"})


def assert_problem(
    response: httpx.Response, status: int, detail: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """The response is problem JSON with this status (and this detail/code when given)."""
    assert status == response.status_code, response.text
    assert "application/problem+json" == response.headers["content-type"].split(";")[0]
    body: dict[str, Any] = response.json()
    assert status == body["status"]
    if detail is not None:
        assert detail == body["detail"]
    if code is not None:
        assert code == body["code"]
    return body
