"""Schemathesis fuzzing of the runner and admin API: no input, however malformed or large, gets a
5xx, and every 4xx is problem JSON (`status`, `detail`).

Fuzzing runs on SQLite only (time budget; the HTTP layer is the same on both databases). NUL
characters, which only PostgreSQL refuses, have a deterministic probe run on both. Generation is
derandomized, so a failure seen in CI reproduces locally.
"""

from __future__ import annotations

import copy
import itertools
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import Case, GenerationMode

from offload.domain.jobs import JobSpec, JobState, JobType
from tests.ladder import enqueue_upload_ladder, register_runner
from tests.support import RunningInstance

#: Examples per operation and generation mode: enough to hit every validator, bounded in time.
MAX_EXAMPLES = 25
#: Same cases on every run, so a failure in CI reproduces locally.
DERANDOMIZE = True

#: Parts of the API this test fuzzes.
FUZZED_PREFIXES = ("/api/v1/runners", "/api/v1/users", "/api/v1/oauth-clients", "/api/v1/config")
#: Revoking the admin token mid-run would turn every later admin call into a 401.
NOT_FUZZED = {("POST", "/api/v1/users/revoke-token")}

#: Query parameters the admin lists read straight from the request (not in the app's schema).
_ANY = {"type": "string"}
_LIST_QUERY: dict[str, list[str]] = {
    "/api/v1/runners/registration-tokens": ["start", "count", "sort"],
    "/api/v1/runners": ["start", "count", "sort"],
    "/api/v1/runners/jobs": ["start", "count", "sort", "search", "stateOneOf", "typeOneOf"],
}
_INT_QUERY = {"start": {"type": "integer"}, "count": {"type": "integer"}}
_ENUM_QUERY = {
    "sort": {
        "type": "string",
        "enum": ["createdAt", "-createdAt", "updatedAt", "-priority", "state", "progress"],
    },
    "stateOneOf": {"type": "array", "items": {"type": "integer"}},
    "typeOneOf": {"type": "array", "items": {"type": "string", "enum": [str(t) for t in JobType]}},
}

#: Path parameters as the handlers expect them, so valid cases get past the first check.
_PATH_PARAMS: dict[str, dict[str, Any]] = {
    "jobUUID": {
        "type": "string",
        "pattern": "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$",
    },
    "runnerId": {"type": "integer", "minimum": 0},
    "tokenId": {"type": "integer", "minimum": 0},
}

#: Text and file parts a runner may send to update/success (protocol §1.2, §5).
_PAYLOAD_TEXT = ["type", "videoChunkFilename", "resolutionPlaylistFilename", "inputLanguage"]
_PAYLOAD_FILES = [
    "videoFile",
    "resolutionPlaylistFile",
    "vttFile",
    "storyboardFile",
    "videoChunkFile",
    "masterPlaylistFile",
]

JOB_BOUND = ("accept", "abort", "error", "update", "success")

#: Fuzzing drives the same HTTP code on either database, so it runs on SQLite only (time
#: budget); what differs on PostgreSQL (NUL characters) has its own probe below.
sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def augmented_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """The app's OpenAPI document plus what its handlers read by hand: list query parameters
    and every payload part of update/success."""
    spec = copy.deepcopy(spec)
    for path, names in _LIST_QUERY.items():
        operation = spec["paths"][path]["get"]
        params = operation.setdefault("parameters", [])
        for name in names:
            schema = _INT_QUERY.get(name) or _ENUM_QUERY.get(name) or _ANY
            params.append({"name": name, "in": "query", "required": False, "schema": schema})
    for ops in spec["paths"].values():
        for operation in ops.values():
            for param in operation.get("parameters", []):
                if param["in"] == "path":
                    param["schema"] = dict(_PATH_PARAMS.get(param["name"], param["schema"]))
    for action in ("update", "success"):
        body = spec["paths"][f"/api/v1/runners/jobs/{{jobUUID}}/{action}"]["post"]["requestBody"]
        props = body["content"]["multipart/form-data"]["schema"]["properties"]
        for name in _PAYLOAD_TEXT:
            props[f"payload[{name}]"] = {"type": "string"}
        for name in _PAYLOAD_FILES:
            props[f"payload[{name}]"] = {"type": "string", "format": "binary"}
    return spec


@dataclass
class Findings:
    """Responses that broke the contract, described well enough to replay them."""

    problems: list[str] = field(default_factory=list)
    #: How many responses had each status: shows how deep the generated cases got.
    statuses: Counter[int] = field(default_factory=Counter)

    def check(self, case: Case, response: requests.Response) -> None:
        self.statuses[response.status_code] += 1
        label = f"{case.method} {case.formatted_path}"
        if response.status_code >= 500:
            self.problems.append(f"{label} -> {response.status_code}: {case!r}")
            return
        if 400 <= response.status_code < 500:
            try:
                body = response.json()
            except ValueError:
                self.problems.append(
                    f"{label} -> {response.status_code} without a JSON body: {case!r}"
                )
                return
            if not (
                isinstance(body, dict)
                and body.get("status") == response.status_code
                and isinstance(body.get("detail"), str)
            ):
                self.problems.append(
                    f"{label} -> {response.status_code} not problem JSON {body!r}: {case!r}"
                )


def fuzz(
    operation: Any,
    mode: GenerationMode,
    send: Callable[[Case], requests.Response],
    findings: Findings,
) -> None:
    """Run `MAX_EXAMPLES` generated cases of one operation through `send`."""

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=DERANDOMIZE,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Case) -> None:
        findings.check(case, send(case))

    try:
        run()
    except Unsatisfiable:
        # Nothing to break: an operation without parameters or body has no negative cases.
        if mode is not GenerationMode.NEGATIVE:
            raise


def fuzzed_operations(schema: Any) -> Iterator[Any]:
    for result in schema.get_all_operations():
        operation = result.ok()
        key = (operation.method.upper(), operation.path)
        if operation.path.startswith(FUZZED_PREFIXES) and key not in NOT_FUZZED:
            yield operation


@pytest.fixture
def schema(instance: RunningInstance) -> Any:
    with httpx.Client(base_url=instance.url, timeout=10.0) as c:
        document = c.get("/openapi.json").json()
    return schemathesis.openapi.from_dict(augmented_spec(document))


@sqlite_only
def test_no_operation_answers_a_server_error(instance: RunningInstance, schema: Any) -> None:
    """Generated valid and invalid calls to every runner/admin operation get 2xx or 4xx problems."""
    enqueue_upload_ladder(instance)
    register_runner(instance)
    auth = {"Authorization": f"Bearer {instance.admin_token()}"}
    findings = Findings()
    seen: list[str] = []
    with requests.Session() as session:

        def send(case: Case) -> requests.Response:
            return case.call(base_url=instance.url, session=session, headers=auth, timeout=10)

        for operation in fuzzed_operations(schema):
            seen.append(f"{operation.method.upper()} {operation.path}")
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                fuzz(operation, mode, send, findings)

    assert [] == findings.problems
    assert {200, 204, 400, 404} <= set(findings.statuses), "cases never got past validation"
    assert {f"POST /api/v1/runners/jobs/{{jobUUID}}/{a}" for a in JOB_BOUND} <= set(seen)
    assert {
        "GET /api/v1/runners/jobs",
        "GET /api/v1/runners",
        "GET /api/v1/runners/registration-tokens",
    } <= set(seen)


@dataclass
class ProcessingJobs:
    """Hands out a job this runner holds in PROCESSING, replacing it once a call ended it."""

    instance: RunningInstance
    runner_token: str
    session: requests.Session
    kinds: Iterator[JobType]
    current: tuple[str, str] | None = None

    def take(self) -> tuple[str, str]:
        if self.current is None:
            job_type = next(self.kinds)
            [job] = self.instance.call(self.instance.services.jobs.enqueue, [_spec(job_type)])
            r = self.session.post(
                f"{self.instance.url}/api/v1/runners/jobs/{job.uuid}/accept",
                json={"runnerToken": self.runner_token},
                timeout=10,
            )
            assert 200 == r.status_code, r.text
            self.current = (job.uuid, r.json()["job"]["jobToken"])
        return self.current

    def release_if_done(self) -> None:
        assert self.current is not None
        job = self.instance.call(self.instance.services.jobs.get, self.current[0])
        if job.state is not JobState.PROCESSING:
            self.current = None


def _is_job_bound(method: str, path: str) -> bool:
    """Calls authenticated by runner token + job token: abort, error, update, success, files."""
    action = path.rpartition("/")[2]
    return method.upper() == "POST" and (action in JOB_BOUND[1:] or "/files/" in path)


def _spec(job_type: JobType) -> JobSpec:
    video_uuid = str(uuid.uuid4())
    private: dict[str, object] = {"videoUUID": video_uuid}
    if job_type is JobType.LIVE_RTMP_HLS:
        private.update(
            {"masterPlaylistName": "master.m3u8", "outputDirectory": "live", "sessionId": "s"}
        )
    return JobSpec(job_type, {"input": {}, "output": {}}, private, priority=100)


@sqlite_only
def test_job_bound_calls_on_a_processing_job_never_answer_5xx(
    instance: RunningInstance, schema: Any
) -> None:
    """Fuzzed job-bound calls carrying a real job's tokens get a 2xx or a 4xx problem."""
    runner = register_runner(instance, name="fuzz-runner")
    findings = Findings()
    with requests.Session() as session:
        jobs = ProcessingJobs(instance, runner["runnerToken"], session, itertools.cycle(JobType))

        def send(case: Case) -> requests.Response:
            job_uuid, job_token = jobs.take()
            case.path_parameters = {**case.path_parameters, "jobUUID": job_uuid}
            if isinstance(case.body, dict):
                case.body = {
                    **case.body,
                    "runnerToken": runner["runnerToken"],
                    "jobToken": job_token,
                }
            response = case.call(base_url=instance.url, session=session, timeout=10)
            jobs.release_if_done()
            return response

        for operation in fuzzed_operations(schema):
            if _is_job_bound(operation.method, operation.path):
                for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                    fuzz(operation, mode, send, findings)

    assert [] == findings.problems
    assert {204, 400} <= set(findings.statuses), "no case reached the job with valid tokens"


#: Body caps small enough for fuzzed bodies to cross once padded (file caps: their minimum).
TIGHT_LIMITS = {
    "request_body_max_bytes": 2048,
    "runner_video_upload_max_bytes": 1024,
    "runner_live_chunk_max_bytes": 1024,
    "runner_image_upload_max_bytes": 1024,
    "runner_caption_upload_max_bytes": 1024,
}
#: Bytes added to fuzzed bodies, in turn: none, and past every cap above (but small enough for
#: the server to read the rest after an early answer, so the client sees that answer).
_PADDING = (0, 3 * 1024, 40 * 1024)


def _padded(case: Case, size: int) -> None:
    """Grow a generated body by `size` bytes: a file part in a multipart body, else a field."""
    if not size or not isinstance(case.body, dict):
        return
    if case.media_type == "multipart/form-data":
        case.body = {**case.body, "payload[videoFile]": bytes(size)}
    else:
        case.body = {**case.body, "padding": "p" * size}


@sqlite_only
def test_bodies_past_their_caps_get_413_problems_never_5xx(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """Under tight caps, fuzzed calls grown past them (runner uploads with a real job's tokens,
    JSON and form bodies) get a 413 problem, or the 2xx/4xx they would get anyway."""
    instance = instance_factory(**TIGHT_LIMITS)
    with httpx.Client(base_url=instance.url, timeout=10.0) as c:
        tight_schema = schemathesis.openapi.from_dict(augmented_spec(c.get("/openapi.json").json()))
    runner = register_runner(instance, name="padded-runner")
    auth = {"Authorization": f"Bearer {instance.admin_token()}"}
    findings = Findings()
    padding = itertools.cycle(_PADDING)
    with requests.Session() as session:
        jobs = ProcessingJobs(instance, runner["runnerToken"], session, itertools.cycle(JobType))

        def send(case: Case) -> requests.Response:
            job_bound = _is_job_bound(case.operation.method, case.operation.path)
            if job_bound:
                job_uuid, job_token = jobs.take()
                case.path_parameters = {**case.path_parameters, "jobUUID": job_uuid}
                if isinstance(case.body, dict):
                    case.body = {
                        **case.body,
                        "runnerToken": runner["runnerToken"],
                        "jobToken": job_token,
                    }
            _padded(case, next(padding))
            response = case.call(base_url=instance.url, session=session, headers=auth, timeout=10)
            if job_bound:
                jobs.release_if_done()
            return response

        for operation in fuzzed_operations(tight_schema):
            if operation.method.upper() in ("POST", "PUT"):
                fuzz(operation, GenerationMode.POSITIVE, send, findings)

    assert [] == findings.problems
    assert {204, 400, 413} <= set(findings.statuses), "no padded case crossed a cap"


def _nul_probes(instance: RunningInstance) -> list[tuple[int, str, str, dict[str, Any]]]:
    """One call per string input that reaches the database, each carrying a NUL character,
    with the status it must get."""
    with instance.admin() as c:
        listed = c.get("/api/v1/runners/registration-tokens").json()["data"]
    runner = register_runner(instance, name="nul-runner")
    [job] = instance.call(instance.services.jobs.enqueue, [_spec(JobType.VOD_WEB_VIDEO)])
    jobs = f"/api/v1/runners/jobs/{job.uuid}"
    with instance.client() as c:
        accepted = c.post(f"{jobs}/accept", json={"runnerToken": runner["runnerToken"]})
    tokens = {"runnerToken": runner["runnerToken"], "jobToken": accepted.json()["job"]["jobToken"]}
    register = {"registrationToken": listed[0]["registrationToken"], "name": "n"}
    user = {"username": "u", "password": "secret1", "role": 2}
    login = {"grant_type": "password", "username": "r\x00", "password": "p"}
    reg, req, users = "/api/v1/runners/register", "/api/v1/runners/jobs/request", "/api/v1/users"
    return [
        (400, "POST", reg, {"json": {**register, "registrationToken": "x\x00"}}),
        (400, "POST", reg, {"json": {**register, "name": "n\x00"}}),
        (400, "POST", reg, {"json": {**register, "description": "d\x00"}}),
        (400, "POST", "/api/v1/runners/unregister", {"json": {"runnerToken": "x\x00"}}),
        # jobTypes values are not validated (PeerTube): one that is no type matches nothing.
        (200, "POST", req, {"json": {**tokens, "jobTypes": ["vod-hls\x00"]}}),
        (400, "POST", f"{jobs}/accept", {"json": {"runnerToken": "x\x00"}}),
        (400, "POST", f"{jobs}/abort", {"json": {**tokens, "reason": "r\x00"}}),
        (400, "POST", f"{jobs}/error", {"json": {**tokens, "message": "m\x00"}}),
        (400, "POST", f"{jobs}/update", {"data": {**tokens, "payload[type]": "t\x00"}}),
        (400, "GET", "/api/v1/runners/jobs", {"params": {"search": "s\x00"}}),
        (400, "GET", "/api/v1/runners/jobs", {"params": {"typeOneOf": "t\x00"}}),
        (400, "POST", users, {"json": {**user, "email": "e\x00@x"}}),
        (400, "POST", f"{users}/token", {"data": login}),
    ]


def test_nul_characters_get_a_4xx_problem_on_both_databases(instance: RunningInstance) -> None:
    """A NUL character (PostgreSQL text refuses it) in a stored or looked-up string is a 400."""
    probes = _nul_probes(instance)
    with instance.client() as c:
        client = c.get("/api/v1/oauth-clients/local").json()
    answers = []
    with instance.admin() as c:
        for _, method, path, kwargs in probes:
            if path == "/api/v1/users/token":
                kwargs = {"data": {**client, **kwargs["data"]}}
            r = c.request(method, path, **kwargs)
            problem_ok = r.status_code < 400 or r.json().get("status") == r.status_code
            answers.append((r.status_code, method, path, problem_ok))

    assert [(status, method, path, True) for status, method, path, _ in probes] == answers
