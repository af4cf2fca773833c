"""Logins cannot freeze or brute-force the instance: password hashing runs off the event loop,
and failed logins are limited per client IP and per username (after PeerTube's
`rates_limit.login`), answered 429 with Retry-After.

The limits live in memory, so their tests run on SQLite only. Client addresses are simulated
from loopback with X-Forwarded-For, believed from the default trusted proxy (loopback)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

import httpx
import pytest

from tests.conformance import assert_problem
from tests.ladder import register_runner
from tests.support import ADMIN_PASSWORD, RunningInstance, create_user, wait_until

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

TOKEN = "/api/v1/users/token"
WAVE = 30
TOO_MANY = "Too many requests, please try again later."


def login_from(instance: RunningInstance, ip: str, username: str, password: str) -> httpx.Response:
    """One password grant as seen coming from `ip`."""
    with instance.client(headers={"X-Forwarded-For": ip}) as c:
        client = c.get("/api/v1/oauth-clients/local").json()
        return c.post(
            TOKEN,
            data={**client, "grant_type": "password", "username": username, "password": password},
        )


async def test_a_burst_of_wrong_logins_does_not_freeze_the_instance(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """While waves of 30 concurrent failing logins run, every ping and runner poll answers within 1 s."""
    instance = instance_factory(login_rate_limit_max=1_000_000)
    runner_token = register_runner(instance)["runnerToken"]
    limits = httpx.Limits(max_connections=WAVE, max_keepalive_connections=WAVE)
    async with (
        httpx.AsyncClient(base_url=instance.url, timeout=60, limits=limits) as guesser,
        httpx.AsyncClient(base_url=instance.url, timeout=60) as pinger,
    ):
        client = (await guesser.get("/api/v1/oauth-clients/local")).json()
        # Half guess root's password, half spray unknown names (which cost a hash too).
        forms = [
            {
                **client,
                "grant_type": "password",
                "username": ("root", f"nobody{n}")[n % 2],
                "password": "wrong",
            }
            for n in range(WAVE)
        ]
        answers: list[int] = []

        async def waves() -> None:
            while True:
                replies = await asyncio.gather(*(guesser.post(TOKEN, data=form) for form in forms))
                answers.extend(r.status_code for r in replies)

        burst = asyncio.create_task(waves())
        latencies = []
        try:
            while len(answers) < 3 * WAVE and not burst.done():
                started = time.monotonic()
                assert 200 == (await pinger.get("/api/v1/ping")).status_code
                latencies.append(time.monotonic() - started)
                started = time.monotonic()
                poll = await pinger.post(
                    "/api/v1/runners/jobs/request", json={"runnerToken": runner_token}
                )
                assert 200 == poll.status_code
                latencies.append(time.monotonic() - started)
            if burst.done():
                burst.result()
        finally:
            burst.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await burst

    assert {400} == set(answers)
    assert max(latencies) < 1.0, (
        f"ping, poll, ping, … latencies under the burst (s): {[round(s, 2) for s in latencies]}"
    )


@SQLITE_ONLY
def test_failed_logins_from_one_address_are_limited(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """After N failed logins from one IP the next is a 429 problem with Retry-After, even with the right password."""
    instance = instance_factory(login_rate_limit_max=3, login_rate_limit_window_s=120.0)

    spent = [login_from(instance, "198.51.100.1", "root", "wrong").status_code for _ in range(3)]
    limited = login_from(instance, "198.51.100.1", "nobody", ADMIN_PASSWORD)
    right_password = login_from(instance, "198.51.100.1", "root", ADMIN_PASSWORD)

    assert [400, 400, 400] == spent
    assert_problem(limited, 429, TOO_MANY)
    assert 0 < int(limited.headers["retry-after"]) <= 120
    assert 429 == right_password.status_code


@SQLITE_ONLY
def test_failed_logins_on_one_user_are_limited_across_addresses(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """N failures on one username from N addresses: a further address is refused for that user, not for another."""
    instance = instance_factory(login_rate_limit_max=3, login_rate_limit_window_s=120.0)
    create_user(instance, "alice")

    spent = [
        login_from(instance, f"198.51.100.{n}", "alice", "wrong").status_code for n in range(1, 4)
    ]
    limited = login_from(instance, "198.51.100.9", "alice", "alice-password")
    other_user = login_from(instance, "198.51.100.9", "root", ADMIN_PASSWORD)

    assert [400, 400, 400] == spent
    assert_problem(limited, 429, TOO_MANY)
    assert "retry-after" in limited.headers
    assert 200 == other_user.status_code, other_user.text


@SQLITE_ONLY
def test_successful_logins_use_no_budget_and_others_still_log_in(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """Right passwords do not count; a locked-out address and user leave other addresses and users alone."""
    instance = instance_factory(login_rate_limit_max=2, login_rate_limit_window_s=120.0)
    create_user(instance, "alice")

    successes = [
        login_from(instance, "198.51.100.1", "alice", "alice-password").status_code
        for _ in range(4)
    ]
    failures = [
        login_from(instance, "198.51.100.1", "alice", "wrong").status_code for _ in range(3)
    ]
    other_address = login_from(instance, "198.51.100.2", "root", ADMIN_PASSWORD)

    assert [200] * 4 == successes
    assert [400, 400, 429] == failures
    assert 200 == other_address.status_code, other_address.text


@SQLITE_ONLY
def test_the_limit_ends_with_its_window(instance_factory: Callable[..., RunningInstance]) -> None:
    """Once the window has passed, the locked-out address logs in again."""
    instance = instance_factory(login_rate_limit_max=2, login_rate_limit_window_s=3.0)
    spent = [login_from(instance, "198.51.100.1", "root", "wrong").status_code for _ in range(3)]

    again = wait_until(
        lambda: login_from(instance, "198.51.100.1", "root", ADMIN_PASSWORD).status_code == 200,
        timeout_s=15,
        interval_s=0.2,
        message="the login window to end",
    )

    assert [400, 400, 429] == spent
    assert again
