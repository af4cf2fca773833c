"""`offload admin …` against a real instance on loopback, config kept under a temporary XDG dir."""

from __future__ import annotations

import json
import stat
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from typer.testing import CliRunner

from offload.cli import app
from tests.ladder import enqueue_upload_ladder, register_runner
from tests.support import ADMIN_PASSWORD, RunningInstance, wait_until

Admin = Callable[..., Result]


@pytest.fixture
def admin(tmp_path: Path) -> Admin:
    """Runs `offload admin ARGS` in-process with its own config home and a wide terminal."""
    runner = CliRunner()
    env = {"XDG_CONFIG_HOME": str(tmp_path / "config"), "COLUMNS": "200", "NO_COLOR": "1"}

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(app, ["admin", *args], env=env, input=input)

    return run


@pytest.fixture
def logged_in(admin: Admin, instance: RunningInstance) -> Admin:
    result = admin("login", "--url", instance.url, "--password", ADMIN_PASSWORD)
    assert 0 == result.exit_code, result.output
    return admin


def config_of(tmp_path: Path) -> dict[str, Any]:
    return tomllib.loads((tmp_path / "config" / "offload" / "admin.toml").read_text())


def json_of(result: Result) -> Any:
    assert 0 == result.exit_code, result.output
    return json.loads(result.stdout)


def test_login_keeps_url_and_tokens_readable_by_owner_only(
    admin: Admin, instance: RunningInstance, tmp_path: Path
) -> None:
    """`login` stores the URL and both tokens in $XDG_CONFIG_HOME/offload/admin.toml, mode 0600."""
    result = admin("login", "--url", instance.url + "/", "--password", ADMIN_PASSWORD)

    assert 0 == result.exit_code, result.output
    assert f"Logged in to {instance.url} as root" in result.stdout
    path = tmp_path / "config" / "offload" / "admin.toml"
    assert 0o600 == stat.S_IMODE(path.stat().st_mode)
    config = config_of(tmp_path)
    assert instance.url == config["url"]
    assert "root" == config["username"]
    assert config["access_token"] and config["refresh_token"]


def test_wrong_password_and_missing_login_fail_with_a_message(
    admin: Admin, instance: RunningInstance
) -> None:
    """A refused login and a command before any login exit 1 and say why on stderr."""
    refused = admin("login", "--url", instance.url, "--password", "nope")
    before_login = admin("tokens", "list")

    assert 1 == refused.exit_code
    assert "400 Invalid grant" in refused.stderr
    assert 1 == before_login.exit_code
    assert "not logged in" in before_login.stderr


def test_tokens_list_generate_and_revoke(logged_in: Admin, instance: RunningInstance) -> None:
    """Tokens are listed with runner counts, generated with the register command, and revoked."""
    register_runner(instance, name="gpu-box")

    listed = json_of(logged_in("tokens", "list", "--json"))
    generated = logged_in("tokens", "generate")
    after_generate = json_of(logged_in("tokens", "list", "--json"))
    declined = logged_in("tokens", "revoke", "1", input="n\n")
    revoked = logged_in("tokens", "revoke", "1", input="y\n")
    quiet = logged_in("tokens", "revoke", "2", "--yes")
    table = logged_in("tokens", "list")

    assert [(1, 1)] == [(t["id"], t["registeredRunnersCount"]) for t in listed]
    assert 0 == generated.exit_code, generated.output
    token = after_generate[1]["registrationToken"]
    assert (
        f"offload runner register --url {instance.url} --registration-token {token} --runner-name my-runner"
        in generated.stdout
    )
    assert [1, 2] == [t["id"] for t in after_generate]
    assert "Revoke registration token #1? This also unregisters 1 runner." in declined.stdout
    assert 1 == declined.exit_code
    assert 0 == revoked.exit_code, revoked.output
    assert 0 == quiet.exit_code, quiet.output
    with instance.admin() as c:
        assert 0 == c.get("/api/v1/runners/registration-tokens").json()["total"]
        assert 0 == c.get("/api/v1/runners").json()["total"]
    assert 0 == table.exit_code
    assert "Token" in table.stdout


def test_runners_list_and_delete(logged_in: Admin, instance: RunningInstance) -> None:
    """Runners are listed (online, as JSON or a table) and unregistered by id."""
    registered = register_runner(instance, name="gpu-box", description="Big GPU", version="1.2.3")

    listed = json_of(logged_in("runners", "list", "--json"))
    table = logged_in("runners", "list")
    deleted = logged_in("runners", "delete", str(registered["id"]), "--yes")
    after = json_of(logged_in("runners", "list", "--json"))

    assert [("gpu-box", "Big GPU", "1.2.3")] == [
        (r["name"], r["description"], r["version"]) for r in listed
    ]
    assert 0 == table.exit_code
    assert "gpu-box" in table.stdout
    assert "online" in table.stdout
    assert 0 == deleted.exit_code, deleted.output
    assert [] == after


def test_jobs_list_filters_and_search(logged_in: Admin, instance: RunningInstance) -> None:
    """`jobs list` filters by state and type, searches, and prints a table by default."""
    jobs = enqueue_upload_ladder(instance)

    pending = json_of(logged_in("jobs", "list", "--state", "pending", "--json"))
    waiting_hls = json_of(
        logged_in("jobs", "list", "--state", "waiting", "--type", "vod-hls-transcoding", "--json")
    )
    found = json_of(logged_in("jobs", "list", "--search", jobs[4].uuid, "--json"))
    table = logged_in("jobs", "list", "--count", "3")
    bad_state = logged_in("jobs", "list", "--state", "sleeping")

    assert [jobs[0].uuid] == [j["uuid"] for j in pending["data"]]
    assert 5 == waiting_hls["total"]
    assert [jobs[4].uuid] == [j["uuid"] for j in found["data"]]
    assert 0 == table.exit_code, table.output
    assert "1–3 of 10" in table.stdout
    assert 2 == bad_state.exit_code


def test_jobs_show_cancel_and_delete(logged_in: Admin, instance: RunningInstance) -> None:
    """`show` prints both payloads and the children; `cancel` ends the job and its descendants; `delete` removes it."""
    jobs = enqueue_upload_ladder(instance)
    root = jobs[0].uuid

    shown = json_of(logged_in("jobs", "show", root, "--json"))
    text = logged_in("jobs", "show", root)
    cancelled = logged_in("jobs", "cancel", root)
    after_cancel = json_of(logged_in("jobs", "show", root, "--json"))
    orphans = json_of(logged_in("jobs", "list", "--state", "parent-cancelled", "--json"))
    again = logged_in("jobs", "cancel", root)
    deleted = logged_in("jobs", "delete", root, "--yes")
    gone = logged_in("jobs", "show", root)

    assert jobs[0].private_payload == shown["privatePayload"]
    assert jobs[0].payload == shown["payload"]
    assert 5 == len(shown["children"])
    assert 0 == text.exit_code, text.output
    assert "Public payload" in text.stdout
    assert "Private payload" in text.stdout
    assert '"videoUUID"' in text.stdout
    assert 0 == cancelled.exit_code, cancelled.output
    assert "Cancelled" == after_cancel["state"]["label"]
    assert 9 == orphans["total"]
    assert 1 == again.exit_code
    assert "400" in again.stderr
    assert 0 == deleted.exit_code, deleted.output
    assert 1 == gone.exit_code
    assert "not found" in gone.stderr


def test_expired_access_token_is_refreshed_before_the_call(
    logged_in: Admin, instance: RunningInstance, tmp_path: Path
) -> None:
    """A stored access token past its expiry is swapped for a new pair with the refresh grant."""
    path = tmp_path / "config" / "offload" / "admin.toml"
    before = config_of(tmp_path)
    path.write_text(
        path.read_text().replace(
            f"access_expires_at = {before['access_expires_at']}", "access_expires_at = 0.0"
        )
    )

    result = logged_in("tokens", "list", "--json")

    assert 0 == result.exit_code, result.output
    after = config_of(tmp_path)
    assert before["access_token"] != after["access_token"]
    assert before["refresh_token"] != after["refresh_token"]
    assert after["access_expires_at"] > 0


def test_access_token_refused_by_the_server_is_refreshed_after_a_401(
    admin: Admin, instance_factory: Callable[..., RunningInstance], tmp_path: Path
) -> None:
    """When the server already expired a token the config thinks valid, one refresh and one retry succeed."""
    instance = instance_factory(access_token_ttl_s=3.0)
    assert 0 == admin("login", "--url", instance.url, "--password", ADMIN_PASSWORD).exit_code
    before = config_of(tmp_path)
    with instance.client(headers={"Authorization": f"Bearer {before['access_token']}"}) as c:
        wait_until(
            lambda: c.get("/api/v1/runners").status_code == 401,
            timeout_s=10,
            message="server-side expiry",
        )
    path = tmp_path / "config" / "offload" / "admin.toml"
    path.write_text(
        path.read_text().replace(
            f"access_expires_at = {before['access_expires_at']}", "access_expires_at = 1e12"
        )
    )

    result = admin("runners", "list", "--json")

    assert [] == json_of(result)
    assert before["access_token"] != config_of(tmp_path)["access_token"]


def test_logout_forgets_the_session(
    logged_in: Admin, instance: RunningInstance, tmp_path: Path
) -> None:
    """`logout` revokes the token on the server and deletes the config file."""
    token = config_of(tmp_path)["access_token"]

    result = logged_in("logout")

    assert 0 == result.exit_code, result.output
    assert not (tmp_path / "config" / "offload" / "admin.toml").exists()
    with instance.client(headers={"Authorization": f"Bearer {token}"}) as c:
        assert 401 == c.get("/api/v1/runners").status_code
