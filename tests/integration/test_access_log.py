"""The access log: one `offload.access` record per HTTP request and per socket handshake, with
secrets in query strings redacted and the client address as a trusted proxy passes it.

What is logged does not depend on the database, so these run on SQLite only."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from tests.ladder import register_runner
from tests.sockets import NAMESPACE, runner_socket
from tests.support import RunningInstance, async_wait_until, wait_until

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def access_log(
    caplog: pytest.LogCaptureFixture,
) -> Iterator[Callable[[str], list[logging.LogRecord]]]:
    """The access records seen so far for one path."""
    with caplog.at_level(logging.INFO, logger="offload.access"):
        yield lambda path: [
            r for r in caplog.records if r.name == "offload.access" and fields(r)["path"] == path
        ]


def fields(record: logging.LogRecord) -> dict[str, Any]:
    access: dict[str, Any] = getattr(record, "access")  # noqa: B009 (set through `extra`)
    return access


def one_record(
    access_log: Callable[[str], list[logging.LogRecord]], path: str
) -> logging.LogRecord:
    records = wait_until(lambda: access_log(path), message=f"an access record for {path}")
    assert 1 == len(records), [r.getMessage() for r in records]
    return records[0]


async def logged_after(
    instance: RunningInstance, access_log: Callable[[str], list[logging.LogRecord]]
) -> None:
    """Wait for the record of a request made now: what came before has been logged too."""
    async with httpx.AsyncClient(base_url=instance.url) as c:
        await c.get("/api/v1/ping")
    await async_wait_until(
        lambda: access_log("/api/v1/ping"), message="the marker request's record"
    )


def test_a_request_gives_one_record_with_its_fields(
    instance: RunningInstance, access_log: Callable[[str], list[logging.LogRecord]]
) -> None:
    """GET /api/v1/ping → one record: method, path, query, status, duration, client, size."""
    with instance.client() as c:
        answer = c.get("/api/v1/ping", params={"start": "0"})

    record = one_record(access_log, "/api/v1/ping")
    got = fields(record)

    assert {
        "method": "GET",
        "path": "/api/v1/ping",
        "query": "start=0",
        "status": 200,
        "client": "127.0.0.1",
        "bytes": len(answer.content),
    } == {k: got[k] for k in ("method", "path", "query", "status", "client", "bytes")}
    assert 0 <= got["duration_ms"] < 30_000
    assert '127.0.0.1 "GET /api/v1/ping?start=0" 200' in record.getMessage()


def test_secret_query_values_are_redacted(
    instance: RunningInstance, access_log: Callable[[str], list[logging.LogRecord]]
) -> None:
    """Token-, password- and secret-like query values never reach the log; other values do."""
    with instance.client() as c:
        c.get(
            "/api/v1/ping",
            params={
                "token": "s3cr3t-a",
                "videoFileToken": "s3cr3t-b",
                "client_secret": "s3cr3t-c",
                "count": "5",
            },
        )

    record = one_record(access_log, "/api/v1/ping")

    assert (
        "token=REDACTED&videoFileToken=REDACTED&client_secret=REDACTED&count=5"
        == fields(record)["query"]
    )
    assert "s3cr3t" not in record.getMessage()


def test_a_trusted_proxy_passes_the_client_address(
    instance: RunningInstance, access_log: Callable[[str], list[logging.LogRecord]]
) -> None:
    """Behind a trusted proxy the record names the forwarded client, not the proxy."""
    with instance.client(headers={"X-Forwarded-For": "203.0.113.7"}) as c:
        c.get("/api/v1/ping")

    assert "203.0.113.7" == fields(one_record(access_log, "/api/v1/ping"))["client"]


def test_json_format_gives_one_json_object_a_line(
    instance_factory: Callable[..., RunningInstance],
    access_log: Callable[[str], list[logging.LogRecord]],
) -> None:
    """With access_log_format=json each message is a JSON object carrying the same fields."""
    instance = instance_factory(access_log_format="json")
    with instance.client() as c:
        c.get("/api/v1/nothing-here")

    record = one_record(access_log, "/api/v1/nothing-here")
    parsed = json.loads(record.getMessage())

    assert {"method": "GET", "path": "/api/v1/nothing-here", "status": 404} == {
        k: parsed[k] for k in ("method", "path", "status")
    }
    assert set(fields(record)) <= set(parsed)


def test_access_log_can_be_turned_off(
    instance_factory: Callable[..., RunningInstance],
    access_log: Callable[[str], list[logging.LogRecord]],
) -> None:
    """access_log=false: requests leave no access record."""
    instance = instance_factory(access_log=False)
    with instance.client() as c:
        c.get("/api/v1/ping")
        c.get("/api/v1/oauth-clients/local")  # answered after the ping's record would be written

    assert [] == access_log("/api/v1/ping")


async def test_a_runner_socket_logs_its_handshake_only(
    instance: RunningInstance, access_log: Callable[[str], list[logging.LogRecord]]
) -> None:
    """A websocket runner connection is one record (101), however long it stays."""
    token = register_runner(instance)["runnerToken"]
    async with runner_socket(instance, token) as sock:
        await sock.client.emit("ping", namespace=NAMESPACE)
    await logged_after(instance, access_log)

    assert [101] == [fields(r)["status"] for r in access_log("/socket.io/")]


async def test_socket_long_polling_logs_its_handshake_only(
    instance: RunningInstance, access_log: Callable[[str], list[logging.LogRecord]]
) -> None:
    """Over Engine.IO long polling, only the opening request is logged, not the session's polls."""
    token = register_runner(instance)["runnerToken"]
    polling = {"EIO": "4", "transport": "polling"}
    async with httpx.AsyncClient(base_url=instance.url + "/socket.io/", params=polling) as c:
        opened = await c.get("")
        session = {"sid": json.loads(opened.text[1:])["sid"]}
        connect = await c.post(
            "", params=session, content=f'40{NAMESPACE},{{"runnerToken":"{token}"}}'
        )
        acknowledged = await c.get("", params=session)
        closed = await c.post("", params=session, content="1")
    await logged_after(instance, access_log)

    assert [200, 200, 200, 200] == [r.status_code for r in (opened, connect, acknowledged, closed)]
    assert acknowledged.text.startswith(f"40{NAMESPACE},")
    records = access_log("/socket.io/")
    assert [("GET", 200)] == [(fields(r)["method"], fields(r)["status"]) for r in records]
    assert "sid=" not in fields(records[0])["query"]
