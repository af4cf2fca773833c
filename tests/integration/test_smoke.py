"""The instance starts, migrates and answers on both databases."""

from __future__ import annotations

from tests.support import RunningInstance


def test_fresh_instance_has_one_registration_token(instance: RunningInstance) -> None:
    """A fresh instance lists exactly one registration token with no runner."""
    with instance.admin() as c:
        r = c.get("/api/v1/runners/registration-tokens")
    assert 200 == r.status_code
    body = r.json()
    assert 1 == body["total"]
    assert 0 == body["data"][0]["registeredRunnersCount"]
    assert body["data"][0]["registrationToken"].startswith("ptrrt-")
