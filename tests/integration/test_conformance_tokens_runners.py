"""protocol.md §11 items 1–27: registration tokens and runners, against a real instance."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from tests.conformance import BAD_PAGINATION, assert_problem, user_client
from tests.ladder import register_runner
from tests.support import RunningInstance

TOKENS = "/api/v1/runners/registration-tokens"
RUNNERS = "/api/v1/runners"
REGISTER = "/api/v1/runners/register"


def listed(client: httpx.Client, path: str, **params: Any) -> dict[str, Any]:
    r = client.get(path, params=params)
    assert 200 == r.status_code, r.text
    return dict(r.json())


def first_registration_token(admin: httpx.Client) -> str:
    return str(listed(admin, TOKENS)["data"][0]["registrationToken"])


def generate_token(admin: httpx.Client, extra: int = 0) -> dict[str, Any]:
    """Generate a token (then `extra` more) and return the first one generated, as listed."""
    before = {t["id"] for t in listed(admin, TOKENS, count=100)["data"]}
    assert 204 == admin.post(f"{TOKENS}/generate").status_code
    [token] = [t for t in listed(admin, TOKENS, count=100)["data"] if t["id"] not in before]
    for _ in range(extra):
        assert 204 == admin.post(f"{TOKENS}/generate").status_code
    return token


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


class TestRegistrationTokenChecks:
    def test_token_routes_need_oauth(self, anon: httpx.Client) -> None:
        """Generate, list and delete of registration tokens without an OAuth token answer 401."""
        responses = [anon.post(f"{TOKENS}/generate"), anon.get(TOKENS), anon.delete(f"{TOKENS}/1")]

        for r in responses:
            assert_problem(r, 401)

    def test_token_routes_refuse_non_admin(
        self, instance: RunningInstance, admin: httpx.Client
    ) -> None:
        """Generate, list and delete of registration tokens with a non-admin user answer 403."""
        with user_client(instance, admin) as c:
            responses = [c.post(f"{TOKENS}/generate"), c.get(TOKENS), c.delete(f"{TOKENS}/1")]

        for r in responses:
            assert_problem(r, 403)
        assert 1 == listed(admin, TOKENS)["total"]

    def test_delete_unknown_token_is_404(self, admin: httpx.Client) -> None:
        """Deleting registration token id 404 answers 404."""
        r = admin.delete(f"{TOKENS}/404")

        assert_problem(r, 404, detail="Registration token not found")

    def test_list_tokens_rejects_bad_pagination(self, admin: httpx.Client) -> None:
        """Listing tokens with a bad start, count or sort answers 400 naming the parameter."""
        for params, field in BAD_PAGINATION:
            body = assert_problem(
                admin.get(TOKENS, params=params),
                400,
                detail=f"Incorrect request parameters: {field}",
            )

            assert [field] == list(body["invalid-params"])

    def test_list_tokens_with_valid_pagination(self, admin: httpx.Client) -> None:
        """Listing tokens with start=0&count=5&sort=-createdAt answers 200."""
        r = admin.get(TOKENS, params={"start": 0, "count": 5, "sort": "-createdAt"})

        assert 200 == r.status_code
        assert 1 == r.json()["total"]


class TestRegisterChecks:
    def test_register_rejects_bad_registration_token(
        self, anon: httpx.Client, admin: httpx.Client
    ) -> None:
        """Registering with a 4000-char or a null registration token answers 400."""
        for token in ["a" * 4000, None]:
            r = anon.post(REGISTER, json={"registrationToken": token, "name": "runner"})

            assert_problem(r, 400, detail="Incorrect request parameters: registrationToken")
        assert 0 == listed(admin, RUNNERS)["total"]

    def test_register_with_unknown_token_is_404(self, anon: httpx.Client) -> None:
        """Registering with the unknown registration token `aaa` answers 404."""
        r = anon.post(REGISTER, json={"registrationToken": "aaa", "name": "runner"})

        assert_problem(r, 404, detail="Registration token is invalid")

    def test_register_rejects_bad_name(self, anon: httpx.Client, admin: httpx.Client) -> None:
        """Registering with an empty name or a 200-char name answers 400."""
        token = first_registration_token(admin)
        for name in ["", "n" * 200]:
            r = anon.post(REGISTER, json={"registrationToken": token, "name": name})

            assert_problem(r, 400, detail="Incorrect request parameters: name")

    def test_register_rejects_bad_description(
        self, anon: httpx.Client, admin: httpx.Client
    ) -> None:
        """Registering with an empty description or a 5000-char description answers 400."""
        token = first_registration_token(admin)
        for description in ["", "d" * 5000]:
            r = anon.post(
                REGISTER,
                json={"registrationToken": token, "name": "runner", "description": description},
            )

            assert_problem(r, 400, detail="Incorrect request parameters: description")

    def test_register_rejects_bad_version(self, anon: httpx.Client, admin: httpx.Client) -> None:
        """Registering with an empty version or a 5000-char version answers 400."""
        token = first_registration_token(admin)
        for version in ["", "1" * 5000]:
            r = anon.post(
                REGISTER, json={"registrationToken": token, "name": "runner", "version": version}
            )

            assert_problem(r, 400, detail="Incorrect request parameters: version")

    def test_register_with_valid_params(self, anon: httpx.Client, admin: httpx.Client) -> None:
        """Registering with valid parameters answers 200 with an integer id."""
        body = {
            "registrationToken": first_registration_token(admin),
            "name": "runner",
            "description": "desc",
            "version": "1.0.0",
        }

        r = anon.post(REGISTER, json=body)

        assert 200 == r.status_code, r.text
        assert isinstance(r.json()["id"], int)

    def test_register_twice_with_same_name_is_400(
        self, instance: RunningInstance, anon: httpx.Client, admin: httpx.Client
    ) -> None:
        """Registering a second runner with a name already in use answers 400."""
        token = first_registration_token(admin)
        register_runner(instance, "runner", registration_token=token)

        r = anon.post(REGISTER, json={"registrationToken": token, "name": "runner"})

        assert_problem(r, 400, detail="This runner name already exists on this instance")
        assert 1 == listed(admin, RUNNERS)["total"]


class TestRunnerAdminChecks:
    def test_delete_runner_checks(
        self, instance: RunningInstance, anon: httpx.Client, admin: httpx.Client
    ) -> None:
        """Deleting a runner: 401 without OAuth, 403 for a user, 400 for id `hi`, 404 for id 404, 204 when valid."""
        runner_id = register_runner(
            instance, "runner", registration_token=first_registration_token(admin)
        )["id"]
        anonymous = anon.delete(f"{RUNNERS}/{runner_id}")
        with user_client(instance, admin) as c:
            user = c.delete(f"{RUNNERS}/{runner_id}")
        bad_id = admin.delete(f"{RUNNERS}/hi")
        unknown = admin.delete(f"{RUNNERS}/404")

        valid = admin.delete(f"{RUNNERS}/{runner_id}")

        assert_problem(anonymous, 401)
        assert_problem(user, 403)
        assert_problem(bad_id, 400, detail="Incorrect request parameters: runnerId")
        assert_problem(unknown, 404, detail="Runner not found")
        assert (204, b"") == (valid.status_code, valid.content)

    def test_list_runners_checks(
        self, instance: RunningInstance, anon: httpx.Client, admin: httpx.Client
    ) -> None:
        """Listing runners: 401 without OAuth, 403 for a user, 400 for bad pagination, 200 when valid."""
        anonymous = anon.get(RUNNERS)
        with user_client(instance, admin) as c:
            user = c.get(RUNNERS)
        bad = [(admin.get(RUNNERS, params=params), field) for params, field in BAD_PAGINATION]

        valid = admin.get(RUNNERS, params={"start": 0, "count": 5, "sort": "-createdAt"})

        assert_problem(anonymous, 401)
        assert_problem(user, 403)
        for r, field in bad:
            assert_problem(r, 400, detail=f"Incorrect request parameters: {field}")
        assert 200 == valid.status_code
        assert {"total": 0, "data": []} == valid.json()


class TestRegistrationTokens:
    def test_fresh_instance_has_one_token(self, admin: httpx.Client) -> None:
        """A fresh instance has exactly one registration token with its fields and no runner."""
        tokens = listed(admin, TOKENS)

        assert 1 == tokens["total"]
        [token] = tokens["data"]
        assert isinstance(token["id"], int)
        assert token["registrationToken"].startswith("ptrrt-")
        assert parse_iso(token["createdAt"]) <= parse_iso(token["updatedAt"])
        assert 0 == token["registeredRunnersCount"]

    def test_generate_adds_tokens(self, admin: httpx.Client) -> None:
        """Two generate calls answer 204 with no body and bring the token total to 3."""
        generated = [admin.post(f"{TOKENS}/generate") for _ in range(2)]

        assert [(204, b""), (204, b"")] == [(r.status_code, r.content) for r in generated]
        tokens = listed(admin, TOKENS)
        assert 3 == tokens["total"]
        assert 3 == len({t["registrationToken"] for t in tokens["data"]})

    def test_token_list_sorts_and_pages(self, admin: httpx.Client) -> None:
        """sort=createdAt lists tokens oldest first; sort=-createdAt&start=2&count=1 gives the oldest; total stays 3."""
        original = listed(admin, TOKENS)["data"][0]
        generate_token(admin, extra=1)

        ascending = listed(admin, TOKENS, sort="createdAt")
        oldest = listed(admin, TOKENS, sort="-createdAt", start=2, count=1)

        ids = [t["id"] for t in ascending["data"]]
        assert sorted(ids) == ids
        assert original["id"] == ids[0]
        created = [parse_iso(t["createdAt"]) for t in ascending["data"]]
        assert sorted(created) == created
        assert 3 == ascending["total"]
        assert 3 == oldest["total"]
        assert [original["id"]] == [t["id"] for t in oldest["data"]]

    def test_registered_runners_are_counted_per_token(
        self, instance: RunningInstance, admin: httpx.Client
    ) -> None:
        """Two runners registered with token X: X counts 2, the other tokens 0, the runner list has 2."""
        x = generate_token(admin, extra=1)
        register_runner(instance, "runner-1", registration_token=x["registrationToken"])
        register_runner(instance, "runner-2", registration_token=x["registrationToken"])

        counts = {t["id"]: t["registeredRunnersCount"] for t in listed(admin, TOKENS)["data"]}

        assert 2 == counts.pop(x["id"])
        assert [0, 0] == list(counts.values())
        assert 2 == listed(admin, RUNNERS)["total"]

    def test_delete_token_removes_it(self, instance: RunningInstance, admin: httpx.Client) -> None:
        """Deleting token X answers 204; the list has 2 tokens, X is gone and none counts runners."""
        x = generate_token(admin, extra=1)
        register_runner(instance, "runner-1", registration_token=x["registrationToken"])

        r = admin.delete(f"{TOKENS}/{x['id']}")

        assert 204 == r.status_code
        tokens = listed(admin, TOKENS)
        assert 2 == tokens["total"]
        assert x["id"] not in [t["id"] for t in tokens["data"]]
        assert [0, 0] == [t["registeredRunnersCount"] for t in tokens["data"]]

    def test_delete_token_removes_its_runners(
        self, instance: RunningInstance, anon: httpx.Client, admin: httpx.Client
    ) -> None:
        """After deleting token X the runners registered with it are gone."""
        x = generate_token(admin)
        first = register_runner(instance, "runner-1", registration_token=x["registrationToken"])
        register_runner(instance, "runner-2", registration_token=x["registrationToken"])

        assert 204 == admin.delete(f"{TOKENS}/{x['id']}").status_code

        assert {"total": 0, "data": []} == listed(admin, RUNNERS)
        r = anon.post("/api/v1/runners/jobs/request", json={"runnerToken": first["runnerToken"]})
        assert_problem(r, 404, code="unknown_runner_token")


class TestRunners:
    def test_register_returns_runner_token(self, anon: httpx.Client, admin: httpx.Client) -> None:
        """Register answers `id` and a `ptrt-` runner token that the instance accepts."""
        r = anon.post(
            REGISTER, json={"registrationToken": first_registration_token(admin), "name": "runner"}
        )

        assert {"id", "runnerToken"} == set(r.json())
        runner_token = r.json()["runnerToken"]
        assert runner_token.startswith("ptrt-")
        r = anon.post("/api/v1/runners/jobs/request", json={"runnerToken": runner_token})
        assert 200 == r.status_code

    def test_listed_runner_fields(self, instance: RunningInstance, admin: httpx.Client) -> None:
        """A listed runner has its id, its IP, and createdAt/updatedAt/lastContact not before its registration."""
        token = first_registration_token(admin)
        now = datetime.now(UTC)
        # The wire has milliseconds.
        before = now.replace(microsecond=now.microsecond // 1000 * 1000)
        registered = register_runner(instance, "runner", registration_token=token)

        [runner] = listed(admin, RUNNERS)["data"]

        assert registered["id"] == runner["id"]
        assert "127.0.0.1" == runner["ip"]
        assert "runnerToken" not in runner
        for key in ("createdAt", "updatedAt", "lastContact"):
            assert before <= parse_iso(runner[key]), key

    def test_description_is_echoed(self, instance: RunningInstance, admin: httpx.Client) -> None:
        """A runner's description is the one given at registration, and null when none was given."""
        token = first_registration_token(admin)
        register_runner(instance, "with", registration_token=token, description="my runner")
        register_runner(instance, "without", registration_token=token)

        descriptions = {r["name"]: r["description"] for r in listed(admin, RUNNERS)["data"]}

        assert {"with": "my runner", "without": None} == descriptions

    def test_version_is_echoed(self, instance: RunningInstance, admin: httpx.Client) -> None:
        """A runner's version is null when none was given at registration, and `1.0.0` when given."""
        token = first_registration_token(admin)
        register_runner(instance, "with", registration_token=token, version="1.0.0")
        register_runner(instance, "without", registration_token=token)

        versions = {r["name"]: r.get("version") for r in listed(admin, RUNNERS)["data"]}

        assert {"with": "1.0.0", "without": None} == versions

    def test_runner_list_sorts_and_pages(
        self, instance: RunningInstance, admin: httpx.Client
    ) -> None:
        """sort=-createdAt&start=1&count=1 lists the older of two runners, with total 2."""
        token = first_registration_token(admin)
        older = register_runner(instance, "older", registration_token=token)
        register_runner(instance, "newer", registration_token=token)

        runners = listed(admin, RUNNERS, sort="-createdAt", start=1, count=1)

        assert 2 == runners["total"]
        assert [older["id"]] == [r["id"] for r in runners["data"]]

    def test_delete_runner_shrinks_list(
        self, instance: RunningInstance, admin: httpx.Client
    ) -> None:
        """Deleting one of two runners leaves one in the list."""
        token = first_registration_token(admin)
        doomed = register_runner(instance, "doomed", registration_token=token)
        kept = register_runner(instance, "kept", registration_token=token)

        assert 204 == admin.delete(f"{RUNNERS}/{doomed['id']}").status_code

        runners = listed(admin, RUNNERS)
        assert 1 == runners["total"]
        assert [kept["id"]] == [r["id"] for r in runners["data"]]

    def test_unregister_removes_runner(
        self, instance: RunningInstance, anon: httpx.Client, admin: httpx.Client
    ) -> None:
        """Unregistering with its runner token answers 204 and removes the runner from the list."""
        token = first_registration_token(admin)
        leaving = register_runner(instance, "leaving", registration_token=token)
        staying = register_runner(instance, "staying", registration_token=token)

        r = anon.post("/api/v1/runners/unregister", json={"runnerToken": leaving["runnerToken"]})

        assert 204 == r.status_code
        assert [staying["id"]] == [r["id"] for r in listed(admin, RUNNERS)["data"]]
