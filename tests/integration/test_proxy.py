"""Behind a reverse proxy: the client address comes from X-Forwarded-For when, and only when,
the peer is a trusted proxy (as PeerTube's `trust_proxy`), for runner IPs and the rate limit."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.support import RunningInstance

REQUEST = "/api/v1/runners/jobs/request"


def register_from(instance: RunningInstance, forwarded_for: str) -> str:
    """Register a runner through a would-be proxy; returns the IP the admin list shows."""
    with instance.admin() as c:
        token = c.get("/api/v1/runners/registration-tokens").json()["data"][0]["registrationToken"]
    with instance.client(headers={"X-Forwarded-For": forwarded_for}) as c:
        r = c.post(
            "/api/v1/runners/register", json={"registrationToken": token, "name": "behind-proxy"}
        )
    assert 200 == r.status_code, r.text
    with instance.admin() as c:
        runners = c.get("/api/v1/runners").json()["data"]
    return str(runners[0]["ip"])


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_proxy_on_loopback_passes_the_runner_address(instance: RunningInstance) -> None:
    """By default a proxy on the same host is trusted: the runner shows its own address."""
    assert "203.0.113.7" == register_from(instance, "203.0.113.7")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_an_untrusted_peer_cannot_claim_an_address(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """With no trusted proxy, X-Forwarded-For is ignored: the peer's own address is kept."""
    instance = instance_factory(trusted_proxies=[])

    assert "127.0.0.1" == register_from(instance, "203.0.113.7")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_rate_limit_counts_each_forwarded_client_apart(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """Clients behind one proxy get a budget each, instead of sharing the proxy's."""
    # A long window: a slow machine must not reset the count before the checks run.
    instance = instance_factory(rate_limit_max=5, rate_limit_window_s=120.0)
    with (
        instance.client(headers={"X-Forwarded-For": "198.51.100.1"}) as first,
        instance.client(headers={"X-Forwarded-For": "198.51.100.2"}) as second,
    ):
        spent = [first.post(REQUEST, json={"runnerToken": "toto"}).status_code for _ in range(6)]
        other = second.post(REQUEST, json={"runnerToken": "toto"}).status_code

    assert [404] * 5 + [429] == spent
    assert 404 == other
