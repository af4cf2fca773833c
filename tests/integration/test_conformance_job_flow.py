"""Conformance of the runner job API over real HTTP: protocol.md §11 items 41–69
(request, accept, update, abort, error, success, admin cancel and delete)."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from offload.domain.jobs import JobSpec, JobType
from tests.ladder import enqueue_upload_ladder, register_runner
from tests.support import RunningInstance

REQUEST = "/api/v1/runners/jobs/request"
WEB = "vod-web-video-transcoding"
HLS = "vod-hls-transcoding"
MP4 = ("out.mp4", b"fake mp4 bytes")
M3U8 = ("out.m3u8", b"#EXTM3U\n")


def path(job_uuid: str, action: str) -> str:
    return f"/api/v1/runners/jobs/{job_uuid}/{action}"


def multipart(
    fields: dict[str, Any], files: dict[str, tuple[str, bytes]] | None = None
) -> list[tuple[str, Any]]:
    """Parts as the runner sends them: update/success are multipart even without a file."""
    parts: list[tuple[str, Any]] = [
        (name, (None, str(value).encode())) for name, value in fields.items()
    ]
    parts += [(name, file) for name, file in (files or {}).items()]
    return parts


def now_ms() -> datetime:
    """Now, truncated to the milliseconds the wire carries."""
    now = datetime.now(UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def parse_iso(value: str) -> datetime:
    return datetime.fromisoformat(value)


@dataclass
class Flow:
    """One instance, a runner, an HTTP client and the admin's view of the jobs."""

    instance: RunningInstance
    client: httpx.Client
    runner_token: str

    def request(self, **body: Any) -> httpx.Response:
        return self.client.post(REQUEST, json={"runnerToken": self.runner_token, **body})

    def available(self, **body: Any) -> list[dict[str, Any]]:
        r = self.request(**body)
        assert 200 == r.status_code, r.text
        return list(r.json()["availableJobs"])

    def accept(self, job_uuid: str, runner_token: str | None = None) -> dict[str, Any]:
        r = self.client.post(
            path(job_uuid, "accept"), json={"runnerToken": runner_token or self.runner_token}
        )
        assert 200 == r.status_code, r.text
        return dict(r.json()["job"])

    def auth(self, job_token: str) -> dict[str, str]:
        return {"runnerToken": self.runner_token, "jobToken": job_token}

    def update(
        self,
        job_uuid: str,
        job_token: str,
        files: dict[str, tuple[str, bytes]] | None = None,
        **fields: Any,
    ) -> httpx.Response:
        return self.client.post(
            path(job_uuid, "update"), files=multipart({**self.auth(job_token), **fields}, files)
        )

    def success(
        self,
        job_uuid: str,
        job_token: str,
        files: dict[str, tuple[str, bytes]] | None = None,
        **fields: Any,
    ) -> httpx.Response:
        return self.client.post(
            path(job_uuid, "success"), files=multipart({**self.auth(job_token), **fields}, files)
        )

    def abort(
        self, job_uuid: str, job_token: str, reason: str = "Runner stopped"
    ) -> httpx.Response:
        return self.client.post(
            path(job_uuid, "abort"), json={**self.auth(job_token), "reason": reason}
        )

    def error(self, job_uuid: str, job_token: str, message: str = "Error") -> httpx.Response:
        return self.client.post(
            path(job_uuid, "error"), json={**self.auth(job_token), "message": message}
        )

    def jobs(self) -> dict[str, dict[str, Any]]:
        """Every job of the admin list, by uuid, in creation order."""
        with self.instance.admin() as c:
            r = c.get("/api/v1/runners/jobs", params={"count": 100, "sort": "createdAt"})
        assert 200 == r.status_code, r.text
        return {j["uuid"]: j for j in r.json()["data"]}

    def cancel(self, job_uuid: str) -> httpx.Response:
        with self.instance.admin() as c:
            return c.post(path(job_uuid, "cancel"))

    def enqueue(self, *specs: JobSpec) -> list[str]:
        return [
            j.uuid for j in self.instance.call(self.instance.services.jobs.enqueue, list(specs))
        ]


def make_flow(instance: RunningInstance) -> Iterator[Flow]:
    runner = register_runner(instance)
    with instance.client() as client:
        yield Flow(instance, client, runner["runnerToken"])


@pytest.fixture
def flow(instance: RunningInstance) -> Iterator[Flow]:
    yield from make_flow(instance)


@pytest.fixture
def ladders(instance: RunningInstance) -> list[list[str]]:
    """Two uploads' ladders (PeerTube's runner-common setup): 2 PENDING, 18 WAITING."""
    return [[j.uuid for j in enqueue_upload_ladder(instance)] for _ in range(2)]


def spec(job_type: JobType, priority: int = 100, **output: Any) -> JobSpec:
    video = str(uuid.uuid4())
    url = f"http://127.0.0.1/api/v1/runners/jobs/x/files/videos/{video}/max-quality"
    return JobSpec(
        job_type,
        {"input": {"videoFileUrl": url}, "output": output},
        {"videoUUID": video},
        priority=priority,
    )


def live_spec() -> JobSpec:
    return JobSpec(
        JobType.LIVE_RTMP_HLS,
        {
            "input": {"rtmpUrl": "rtmp://127.0.0.1:1935/live/key"},
            "output": {
                "toTranscode": [{"resolution": 0, "fps": 0}],
                "segmentDuration": 4,
                "segmentListSize": 15,
            },
        },
        {
            "videoUUID": str(uuid.uuid4()),
            "masterPlaylistName": "master.m3u8",
            "outputDirectory": "/tmp/x",
            "sessionId": "s",
        },
        priority=100,
    )


class TestRequest:
    def test_request_validates_runner_token_job_types_and_version(self, flow: Flow) -> None:
        """Null/empty runner token, non-array jobTypes, bad version → 400; unknown token → 404 (items 41–43)."""
        unknown = flow.client.post(REQUEST, json={"runnerToken": "ptrt-" + str(uuid.uuid4())})

        actual = {
            "null token": flow.client.post(REQUEST, json={"runnerToken": None}).status_code,
            "empty token": flow.client.post(REQUEST, json={"runnerToken": ""}).status_code,
            "unknown token": unknown.status_code,
            "jobTypes toto": flow.request(jobTypes="toto").status_code,
            "version invalid": flow.request(version="invalid").status_code,
        }
        expected = {
            "null token": 400,
            "empty token": 400,
            "unknown token": 404,
            "jobTypes toto": 400,
            "version invalid": 400,
        }
        assert expected == actual
        assert "unknown_runner_token" == unknown.json()["code"]

    def test_request_offers_the_two_optimize_jobs_without_private_payload(
        self, flow: Flow, ladders: list[list[str]]
    ) -> None:
        """Two uploads give exactly their two optimize jobs, with input/output and no privatePayload (item 45)."""
        available = flow.available()

        # Same priority: Offload shuffles that tier so concurrent runners pick different jobs.
        assert {ladders[0][0], ladders[1][0]} == {j["uuid"] for j in available}
        assert [WEB, WEB] == [j["type"] for j in available]
        for job in available:
            assert {"uuid", "type", "payload"} == set(job)
            assert {"input", "output"} <= set(job["payload"])

    def test_request_stores_a_new_runner_version(self, flow: Flow) -> None:
        """A request with `version: "2.0.0"` shows up in the admin runner list (item 46)."""
        flow.available(version="2.0.0")

        with flow.instance.admin() as c:
            runners = c.get("/api/v1/runners").json()["data"]
        assert ["2.0.0"] == [r["version"] for r in runners]

    def test_request_filters_by_job_types(self, flow: Flow, ladders: list[list[str]]) -> None:
        """`jobTypes` keeps only the listed types: web → 2, HLS → 0, and `[]` → 0 like PeerTube's empty IN list (items 44, 47)."""
        actual = {
            name: len(flow.available(jobTypes=types))
            for name, types in {"web": [WEB], "hls": [HLS], "empty": []}.items()
        }

        assert {"web": 2, "hls": 0, "empty": 0} == actual

    def test_request_lists_the_best_priority_first(
        self, flow: Flow, ladders: list[list[str]]
    ) -> None:
        """The first available job is the pending one with the lowest priority number (item 48)."""
        [urgent] = flow.enqueue(spec(JobType.VOD_HLS, priority=10, resolution=720, fps=25))

        available = [j["uuid"] for j in flow.available()]

        assert urgent == available[0]
        assert {ladders[0][0], ladders[1][0]} == set(available[1:])

    def test_request_updates_the_runner_last_contact(
        self, instance_factory: Callable[..., RunningInstance]
    ) -> None:
        """After a request the runner's `lastContact` is later than just before it (item 49)."""
        instance = instance_factory(last_contact_interval_s=0.0)
        for flow in make_flow(instance):
            before = now_ms()
            flow.available()

            with instance.admin() as c:
                [runner] = c.get("/api/v1/runners").json()["data"]
            assert parse_iso(runner["lastContact"]) >= before


class TestAccept:
    def test_accept_refuses_bad_jobs_and_bad_runner_tokens(
        self, flow: Flow, ladders: list[list[str]]
    ) -> None:
        """Empty uuid 400, unknown 404, completed or cancelled 400, null/empty token 400, unknown token 404 (item 50)."""
        completed, cancelled = ladders[0][0], ladders[1][0]
        job = flow.accept(completed)
        assert (
            204
            == flow.success(
                completed, job["jobToken"], files={"payload[videoFile]": MP4}
            ).status_code
        )
        assert 204 == flow.cancel(cancelled).status_code
        pending = ladders[0][1]  # the HLS 720 child, PENDING once its parent completed
        token = flow.runner_token

        def accept(job_uuid: str, runner_token: Any) -> int:
            return flow.client.post(
                path(job_uuid, "accept"), json={"runnerToken": runner_token}
            ).status_code

        actual = {
            "empty uuid": accept("", token),
            "unknown uuid": accept(str(uuid.uuid4()), token),
            "completed": accept(completed, token),
            "cancelled": accept(cancelled, token),
            "null token": accept(pending, None),
            "empty token": accept(pending, ""),
            "unknown token": accept(pending, "ptrt-" + str(uuid.uuid4())),
        }
        expected = {
            "empty uuid": 400,
            "unknown uuid": 404,
            "completed": 400,
            "cancelled": 400,
            "null token": 400,
            "empty token": 400,
            "unknown token": 404,
        }
        assert expected == actual
        assert 1 == flow.jobs()[pending]["state"]["id"]

    def test_accepted_job_is_shown_to_its_runner_and_to_the_admin(
        self, flow: Flow, ladders: list[list[str]]
    ) -> None:
        """Accept answers the job PROCESSING with payload and jobToken; the admin sees it with privatePayload instead (items 51, 52)."""
        before = now_ms()
        job = flow.accept(ladders[0][0])
        jobs = flow.jobs()
        listed = jobs[ladders[0][0]]

        assert (ladders[0][0], WEB) == (job["uuid"], job["type"])
        assert {"id": 2, "label": "Processing"} == job["state"]
        assert ("runner-1", None) == (job["runner"]["name"], job["runner"]["description"])
        assert (None, 0) == (job["progress"], job["failures"])
        assert parse_iso(job["startedAt"]) >= before
        assert "finishedAt" not in job
        assert {"input", "output"} <= set(job["payload"])
        assert job["jobToken"].startswith("ptrjt-")
        assert set() == {"privatePayload", "parent"} & set(job)
        for key in (
            "uuid",
            "type",
            "state",
            "payload",
            "progress",
            "failures",
            "startedAt",
            "runner",
            "priority",
        ):
            assert job[key] == listed[key], key
        assert "jobToken" not in listed
        assert "videoUUID" in listed["privatePayload"]
        assert {1: 1, 5: 18} == dict(
            Counter(j["state"]["id"] for u, j in jobs.items() if u != ladders[0][0])
        )


class TestJobBoundCalls:
    def test_job_bound_calls_check_uuid_and_both_tokens(
        self, flow: Flow, ladders: list[list[str]]
    ) -> None:
        """abort/update/error/success answer 400 for malformed ids and 404 unless uuid, job token and runner all match (item 53)."""
        this, other = ladders[0][0], ladders[1][0]
        this_token = flow.accept(this)["jobToken"]
        other_token = flow.accept(other)["jobToken"]
        someone_else = register_runner(flow.instance, name="runner-2")["runnerToken"]
        runner = flow.runner_token
        cases = {
            "uuid a": (("a", runner, this_token), 400),
            "unknown uuid": ((str(uuid.uuid4()), runner, this_token), 404),
            "empty runner token": ((this, "", this_token), 400),
            "unknown runner token": ((this, "ptrt-" + str(uuid.uuid4()), this_token), 404),
            "empty job token": ((this, runner, ""), 400),
            "unknown job token": ((this, runner, "ptrjt-" + str(uuid.uuid4())), 404),
            "another runner": ((this, someone_else, this_token), 404),
            "another job's uuid": ((other, runner, this_token), 404),
            "another job's token": ((this, runner, other_token), 404),
        }

        def call(action: str, job_uuid: str, runner_token: str, job_token: str) -> int:
            auth = {"runnerToken": runner_token, "jobToken": job_token}
            url = path(job_uuid, action)
            if action == "abort":
                return flow.client.post(url, json={**auth, "reason": "stop"}).status_code
            if action == "error":
                return flow.client.post(url, json={**auth, "message": "boom"}).status_code
            files = {"payload[videoFile]": MP4} if action == "success" else None
            return flow.client.post(url, files=multipart(auth, files)).status_code

        actions = ["abort", "update", "error", "success"]
        actual = {
            f"{a}: {name}": call(a, *args) for a in actions for name, (args, _) in cases.items()
        }
        expected = {f"{a}: {name}": status for a in actions for name, (_, status) in cases.items()}
        assert expected == actual
        assert [2, 2] == [flow.jobs()[u]["state"]["id"] for u in (this, other)]

    def test_job_bound_calls_validate_their_fields(
        self, flow: Flow, ladders: list[list[str]]
    ) -> None:
        """Abort reason or error message missing or over 5000 chars, progress 101 → 400, job left PROCESSING (items 54, 55, 58)."""
        job_uuid = ladders[0][0]
        token = flow.accept(job_uuid)["jobToken"]

        actual = {
            "abort without reason": flow.client.post(
                path(job_uuid, "abort"), json=flow.auth(token)
            ).status_code,
            "abort reason 5001": flow.abort(job_uuid, token, reason="a" * 5001).status_code,
            "error without message": flow.client.post(
                path(job_uuid, "error"), json=flow.auth(token)
            ).status_code,
            "error message 6000": flow.error(job_uuid, token, message="a" * 6000).status_code,
            "progress 101": flow.update(job_uuid, token, progress=101).status_code,
        }
        expected = {
            "abort without reason": 400,
            "abort reason 5001": 400,
            "error without message": 400,
            "error message 6000": 400,
            "progress 101": 400,
        }
        assert expected == actual
        job = flow.jobs()[job_uuid]
        assert (2, 0, None) == (job["state"]["id"], job["failures"], job["progress"])

    def test_completed_job_token_is_not_processing_but_updates_pass(
        self, flow: Flow, ladders: list[list[str]]
    ) -> None:
        """With a completed job's token abort/error/success → 400 not-processing, a late update → 204 ignored (items 54, 58, 59)."""
        job_uuid = ladders[0][0]
        token = flow.accept(job_uuid)["jobToken"]
        assert 204 == flow.success(job_uuid, token, files={"payload[videoFile]": MP4}).status_code
        abort = flow.abort(job_uuid, token)

        actual = {
            "abort": abort.status_code,
            "error": flow.error(job_uuid, token).status_code,
            "success": flow.success(job_uuid, token, files={"payload[videoFile]": MP4}).status_code,
            "update": flow.update(job_uuid, token, progress=80).status_code,
        }
        assert {"abort": 400, "error": 400, "success": 400, "update": 204} == actual
        assert "runner_job_not_in_processing_state" == abort.json()["code"]
        job = flow.jobs()[job_uuid]
        assert (3, None) == (job["state"]["id"], job["progress"])

    def test_cancelled_job_token_is_unknown(self, flow: Flow, ladders: list[list[str]]) -> None:
        """Admin cancel of an accepted job clears its token: the runner's abort/update/error/success → 404 (items 55, 68)."""
        job_uuid = ladders[0][0]
        token = flow.accept(job_uuid)["jobToken"]
        assert 204 == flow.cancel(job_uuid).status_code

        actual = {
            "abort": flow.abort(job_uuid, token).status_code,
            "update": flow.update(job_uuid, token, progress=10).status_code,
            "error": flow.error(job_uuid, token).status_code,
            "success": flow.success(job_uuid, token, files={"payload[videoFile]": MP4}).status_code,
        }
        assert {"abort": 404, "update": 404, "error": 404, "success": 404} == actual
        assert 6 == flow.jobs()[job_uuid]["state"]["id"]


class TestUpdate:
    def test_update_stores_progress_on_that_job_only(
        self, flow: Flow, ladders: list[list[str]]
    ) -> None:
        """`progress=53` shows on the PROCESSING job; every other job keeps progress null (item 61)."""
        token = flow.accept(ladders[0][0])["jobToken"]

        assert 204 == flow.update(ladders[0][0], token, progress=53).status_code

        jobs = flow.jobs()
        assert 53 == jobs[ladders[0][0]]["progress"]
        assert {None} == {j["progress"] for u, j in jobs.items() if u != ladders[0][0]}

    def test_live_update_validates_its_payload(self, flow: Flow) -> None:
        """Live updates with a bad `type` or a missing/unsafe playlist filename → 400; a well-formed one → 204 (items 56, 57)."""
        [live] = flow.enqueue(live_spec())
        token = flow.accept(live)["jobToken"]
        chunk = {"payload[videoChunkFilename]": "0-000067.ts"}
        files = {
            "payload[videoChunkFile]": ("0-000067.ts", b"ts"),
            "payload[resolutionPlaylistFile]": ("0.m3u8", b"#EXTM3U\n"),
        }

        def update(kind: str | None, playlist: str | None) -> int:
            fields = dict(chunk)
            if kind is not None:
                fields["payload[type]"] = kind
            if playlist is not None:
                fields["payload[resolutionPlaylistFilename]"] = playlist
            return flow.update(live, token, files=files, **fields).status_code

        actual = {
            "playlist name missing": update("add-chunk", None),
            "playlist coucou/hello": update("add-chunk", "coucou/hello"),
            "playlist hello": update("add-chunk", "hello"),
            "type missing": update(None, "0.m3u8"),
            "type toto": update("toto", "0.m3u8"),
            "valid": update("add-chunk", "0.m3u8"),
        }
        expected = {
            "playlist name missing": 400,
            "playlist coucou/hello": 400,
            "playlist hello": 400,
            "type missing": 400,
            "type toto": 400,
            "valid": 204,
        }
        assert expected == actual


class TestAbort:
    def test_abort_requeues_the_job_and_clears_progress(
        self, flow: Flow, ladders: list[list[str]]
    ) -> None:
        """After abort the job is PENDING with no progress, offered again, and re-accepted with progress null (item 62)."""
        job_uuid = ladders[0][0]
        token = flow.accept(job_uuid)["jobToken"]
        assert 204 == flow.update(job_uuid, token, progress=53).status_code

        assert 204 == flow.abort(job_uuid, token).status_code

        jobs = flow.jobs()
        assert {"id": 1, "label": "Pending"} == jobs[job_uuid]["state"]
        assert (0, None) == (jobs[job_uuid]["failures"], jobs[job_uuid]["runner"])
        assert {None} == {j["progress"] for j in jobs.values()}
        assert job_uuid in [j["uuid"] for j in flow.available()]
        again = flow.accept(job_uuid)
        assert (None, 2) == (again["progress"], again["state"]["id"])
        assert token != again["jobToken"]


class TestError:
    def test_first_error_requeues_with_one_failure(
        self, flow: Flow, ladders: list[list[str]]
    ) -> None:
        """Accept + error → PENDING, failures 1, error null, progress null, no finishedAt (item 64)."""
        token = flow.accept(ladders[0][0])["jobToken"]
        assert 204 == flow.update(ladders[0][0], token, progress=20).status_code

        assert 204 == flow.error(ladders[0][0], token, message="Error").status_code

        job = flow.jobs()[ladders[0][0]]
        assert (1, 1, None, None) == (
            job["state"]["id"],
            job["failures"],
            job["error"],
            job["progress"],
        )
        assert "finishedAt" not in job

    def test_fifth_error_errors_the_job_and_its_descendants(
        self, flow: Flow, ladders: list[list[str]]
    ) -> None:
        """Five error rounds → ERRORED, failures 5, last message, finishedAt; its 5 children and theirs → PARENT_ERRORED (items 65, 66)."""
        parent = ladders[0][0]
        for message in ["Error", "Error 0", "Error 1", "Error 2", "Error 3"]:
            assert (
                204
                == flow.error(parent, flow.accept(parent)["jobToken"], message=message).status_code
            )

        jobs = flow.jobs()
        job = jobs[parent]
        assert {"id": 4, "label": "Errored"} == job["state"]
        assert (5, "Error 3", None) == (job["failures"], job["error"], job["progress"])
        assert "finishedAt" in job
        assert parent not in [j["uuid"] for j in flow.available()]
        children = [jobs[u] for u in ladders[0][1:] if jobs[u]["parent"]["uuid"] == parent]
        assert 5 == len(children)
        expected_parent = {"uuid": parent, "type": WEB, "state": {"id": 4, "label": "Errored"}}
        assert [expected_parent] * 5 == [
            {k: c["parent"][k] for k in ("uuid", "type", "state")} for c in children
        ]
        assert [{"id": 7, "label": "Parent job failed"}] * 9 == [
            jobs[u]["state"] for u in ladders[0][1:]
        ]
        assert [1] + [5] * 9 == [jobs[u]["state"]["id"] for u in ladders[1]]


class TestSuccess:
    def test_success_refuses_payloads_missing_their_files(
        self, flow: Flow, ladders: list[list[str]]
    ) -> None:
        """Web-video/audio-merge/studio without videoFile, HLS without playlist → 400, job still PROCESSING (item 60)."""
        hls, audio, studio = flow.enqueue(
            spec(JobType.VOD_HLS, resolution=720, fps=25),
            spec(JobType.VOD_AUDIO_MERGE, resolution=480, fps=25),
            spec(JobType.STUDIO),
        )
        web = ladders[0][0]
        tokens = {u: flow.accept(u)["jobToken"] for u in (web, hls, audio, studio)}

        actual = {
            "web without file": flow.success(web, tokens[web]).status_code,
            "hls without playlist": flow.success(
                hls, tokens[hls], files={"payload[videoFile]": MP4}
            ).status_code,
            "audio merge without file": flow.success(audio, tokens[audio]).status_code,
            "studio without file": flow.success(studio, tokens[studio]).status_code,
        }
        expected = {
            "web without file": 400,
            "hls without playlist": 400,
            "audio merge without file": 400,
            "studio without file": 400,
        }
        assert expected == actual
        jobs = flow.jobs()
        assert [2, 2, 2, 2] == [jobs[u]["state"]["id"] for u in (web, hls, audio, studio)]
        files = {"payload[videoFile]": MP4, "payload[resolutionPlaylistFile]": M3U8}
        assert 204 == flow.success(hls, tokens[hls], files=files).status_code

    def test_success_completes_the_job(self, flow: Flow, ladders: list[list[str]]) -> None:
        """Success with videoFile → COMPLETED with finishedAt and no progress, no longer offered (item 63)."""
        job_uuid = ladders[0][0]
        token = flow.accept(job_uuid)["jobToken"]
        assert 204 == flow.update(job_uuid, token, progress=90).status_code

        assert 204 == flow.success(job_uuid, token, files={"payload[videoFile]": MP4}).status_code

        job = flow.jobs()[job_uuid]
        assert ({"id": 3, "label": "Completed"}, None) == (job["state"], job["progress"])
        assert "finishedAt" in job
        assert job_uuid not in [j["uuid"] for j in flow.available()]


class TestAdminCancelAndDelete:
    def test_cancel_of_a_pending_parent_cancels_its_descendants(
        self, flow: Flow, ladders: list[list[str]]
    ) -> None:
        """Cancelling a pending parent → CANCELLED, and its 5 children (and theirs) → PARENT_CANCELLED (item 67)."""
        parent = ladders[0][0]

        assert 204 == flow.cancel(parent).status_code

        jobs = flow.jobs()
        assert {"id": 6, "label": "Cancelled"} == jobs[parent]["state"]
        assert 5 == sum(jobs[u]["parent"]["uuid"] == parent for u in ladders[0][1:])
        assert [{"id": 8, "label": "Parent job cancelled"}] * 9 == [
            jobs[u]["state"] for u in ladders[0][1:]
        ]
        assert [1] + [5] * 9 == [jobs[u]["state"]["id"] for u in ladders[1]]

    def test_delete_of_a_pending_parent_removes_its_descendants(
        self, flow: Flow, ladders: list[list[str]]
    ) -> None:
        """Deleting a pending parent removes it and every descendant from the list (item 69)."""
        with flow.instance.admin() as c:
            r = c.delete(f"/api/v1/runners/jobs/{ladders[0][0]}")

        assert 204 == r.status_code
        assert ladders[1] == list(flow.jobs())
