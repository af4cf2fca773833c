"""protocol.md §11 items 28–40: the admin runner-job endpoints, against a real instance."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.conformance import BAD_PAGINATION, assert_problem, user_client
from tests.ladder import enqueue_upload_ladder
from tests.support import RunningInstance

JOBS = "/api/v1/runners/jobs"
HLS = "vod-hls-transcoding"
WEB_VIDEO = "vod-web-video-transcoding"
WAITING_LABEL = "Waiting for parent job to finish"
NOT_CANCELLABLE = 'Cannot cancel this job that is not in "pending", "processing" or "waiting for parent job" state'


def jobs_of(admin: httpx.Client, params: Any = None) -> dict[str, Any]:
    r = admin.get(JOBS, params=params)
    assert 200 == r.status_code, r.text
    return dict(r.json())


class TestCancel:
    def test_cancel_checks(
        self, instance: RunningInstance, anon: httpx.Client, admin: httpx.Client
    ) -> None:
        """Cancel: 401 without OAuth, 403 for a user, 400 for `hello`, 404 when unknown, 204 when pending, 400 once cancelled."""
        pending = enqueue_upload_ladder(instance)[0].uuid
        anonymous = anon.post(f"{JOBS}/{pending}/cancel")
        with user_client(instance, admin) as c:
            user = c.post(f"{JOBS}/{pending}/cancel")
        bad_uuid = admin.post(f"{JOBS}/hello/cancel")
        unknown = admin.post(f"{JOBS}/{uuid.uuid4()}/cancel")

        cancelled = admin.post(f"{JOBS}/{pending}/cancel")
        again = admin.post(f"{JOBS}/{pending}/cancel")

        assert_problem(anonymous, 401)
        assert_problem(user, 403)
        assert_problem(bad_uuid, 400, detail="Incorrect request parameters: jobUUID")
        assert_problem(unknown, 404, detail="Unknown runner job")
        assert (204, b"") == (cancelled.status_code, cancelled.content)
        assert_problem(again, 400, detail=NOT_CANCELLABLE)
        [job] = jobs_of(admin, {"search": pending})["data"]
        assert {"id": 6, "label": "Cancelled"} == job["state"]


class TestListChecks:
    def test_list_checks(
        self, instance: RunningInstance, anon: httpx.Client, admin: httpx.Client
    ) -> None:
        """Listing jobs: 401 without OAuth, 403 for a user, 400 for a bad start, count or sort."""
        anonymous = anon.get(JOBS)
        with user_client(instance, admin) as c:
            user = c.get(JOBS)

        bad = [(admin.get(JOBS, params=params), field) for params, field in BAD_PAGINATION]

        assert_problem(anonymous, 401)
        assert_problem(user, 403)
        for r, field in bad:
            assert_problem(r, 400, detail=f"Incorrect request parameters: {field}")

    def test_list_rejects_unknown_state(self, admin: httpx.Client) -> None:
        """Listing jobs with stateOneOf=42 (or another value than a state id), as a scalar or as an array, answers 400."""
        responses = [
            admin.get(JOBS, params={"stateOneOf": "42"}),
            admin.get(JOBS, params={"stateOneOf[]": "42"}),
        ]
        responses += [
            admin.get(JOBS, params={"stateOneOf": value}) for value in ("hello", "+3", "٣")
        ]

        for r in responses:
            body = assert_problem(r, 400, detail="Incorrect request parameters: stateOneOf")

            assert ["stateOneOf"] == list(body["invalid-params"])

    def test_list_rejects_unknown_type(self, admin: httpx.Client) -> None:
        """Listing jobs with typeOneOf=42, as a scalar or as an array, answers 400."""
        responses = [
            admin.get(JOBS, params={"typeOneOf": "42"}),
            admin.get(JOBS, params={"typeOneOf[]": "42"}),
        ]

        for r in responses:
            assert_problem(r, 400, detail="Incorrect request parameters: typeOneOf")

    def test_list_with_valid_filters(self, admin: httpx.Client) -> None:
        """Listing jobs with stateOneOf=[3]&typeOneOf=[vod-web-video-transcoding]&sort=-createdAt answers 200."""
        forms = [
            {"stateOneOf": [3], "typeOneOf": [WEB_VIDEO], "sort": "-createdAt"},
            {"stateOneOf[]": [3], "typeOneOf[]": [WEB_VIDEO], "sort": "-createdAt"},
        ]

        responses = [admin.get(JOBS, params=params) for params in forms]

        assert [(200, {"total": 0, "data": []})] * 2 == [
            (r.status_code, r.json()) for r in responses
        ]


class TestDelete:
    def test_delete_checks(
        self, instance: RunningInstance, anon: httpx.Client, admin: httpx.Client
    ) -> None:
        """Delete: 401 without OAuth, 403 for a user, 400 for `hello`, 404 when unknown, 204 for a pending job."""
        pending = enqueue_upload_ladder(instance)[0].uuid
        anonymous = anon.delete(f"{JOBS}/{pending}")
        with user_client(instance, admin) as c:
            user = c.delete(f"{JOBS}/{pending}")
        bad_uuid = admin.delete(f"{JOBS}/hello")
        unknown = admin.delete(f"{JOBS}/{uuid.uuid4()}")

        deleted = admin.delete(f"{JOBS}/{pending}")

        assert_problem(anonymous, 401)
        assert_problem(user, 403)
        assert_problem(bad_uuid, 400, detail="Incorrect request parameters: jobUUID")
        assert_problem(unknown, 404, detail="Unknown runner job")
        assert (204, b"") == (deleted.status_code, deleted.content)
        # The ladder hangs off the deleted job: its descendants go with it.
        assert {"total": 0, "data": []} == jobs_of(admin)


class TestList:
    def test_no_jobs_before_upload(self, admin: httpx.Client) -> None:
        """A fresh instance lists no runner job."""
        assert {"total": 0, "data": []} == jobs_of(admin)

    def test_one_upload_makes_ten_jobs(
        self, instance: RunningInstance, admin: httpx.Client
    ) -> None:
        """One upload lists 10 jobs (5 HLS, 5 web video), unstarted, with payloads: 1 pending, 9 waiting."""
        enqueue_upload_ladder(instance)

        listed = jobs_of(admin)

        assert 10 == listed["total"]
        jobs = listed["data"]
        assert {HLS: 5, WEB_VIDEO: 5} == {
            t: sum(j["type"] == t for j in jobs) for t in (HLS, WEB_VIDEO)
        }
        assert [] == [j["uuid"] for j in jobs if "startedAt" in j or "finishedAt" in j]
        assert all(
            isinstance(j["payload"], dict) and isinstance(j["privatePayload"], dict) for j in jobs
        )
        states = [j["state"]["id"] for j in jobs]
        assert (1, 9) == (states.count(1), states.count(5))

    def test_paging_is_consistent(self, instance: RunningInstance, admin: httpx.Client) -> None:
        """After two uploads: total 20, newest first by default, and start/count and sort=createdAt agree with it."""
        enqueue_upload_ladder(instance)
        second = {j.uuid for j in enqueue_upload_ladder(instance)}

        default_page = jobs_of(admin)
        newest_first = [j["uuid"] for j in jobs_of(admin, {"count": 20})["data"]]
        pages = [jobs_of(admin, {"start": start, "count": 5}) for start in (0, 5, 10, 15)]
        oldest_first = [
            j["uuid"] for j in jobs_of(admin, {"sort": "createdAt", "count": 20})["data"]
        ]

        assert (20, 15) == (default_page["total"], len(default_page["data"]))
        assert second == set(newest_first[:10])
        assert [20] * 4 == [p["total"] for p in pages]
        assert newest_first == [j["uuid"] for p in pages for j in p["data"]]
        assert newest_first[::-1] == oldest_first

    def test_sort_by_priority_descending(
        self, instance: RunningInstance, admin: httpx.Client
    ) -> None:
        """sort=-priority lists jobs by non-increasing priority."""
        enqueue_upload_ladder(instance)

        priorities = [j["priority"] for j in jobs_of(admin, {"sort": "-priority"})["data"]]

        assert sorted(priorities, reverse=True) == priorities
        assert {100, 10000} == set(priorities)

    def test_search(self, instance: RunningInstance, admin: httpx.Client) -> None:
        """search=<uuid> finds that job only, search=toto finds none, search=hls finds only HLS jobs."""
        target = enqueue_upload_ladder(instance)[3].uuid

        by_uuid = jobs_of(admin, {"search": target})
        toto = jobs_of(admin, {"search": "toto"})
        hls = [jobs_of(admin, {"search": term}) for term in ("hls", "HLS")]

        assert (1, [target]) == (by_uuid["total"], [j["uuid"] for j in by_uuid["data"]])
        assert {"total": 0, "data": []} == toto
        for found in hls:
            assert 5 == found["total"]
            assert [HLS] * 5 == [j["type"] for j in found["data"]]

    def test_filter_by_state(self, instance: RunningInstance, admin: httpx.Client) -> None:
        """stateOneOf=[5] lists only waiting jobs; stateOneOf=[3] lists none yet."""
        enqueue_upload_ladder(instance)

        waiting = [jobs_of(admin, {key: [5]}) for key in ("stateOneOf", "stateOneOf[]")]
        completed = jobs_of(admin, {"stateOneOf": [3]})

        for listed in waiting:
            assert 9 == listed["total"]
            assert [WAITING_LABEL] * 9 == [j["state"]["label"] for j in listed["data"]]
        assert {"total": 0, "data": []} == completed

    def test_filter_by_type(self, instance: RunningInstance, admin: httpx.Client) -> None:
        """typeOneOf=[vod-hls-transcoding] lists only the HLS jobs."""
        enqueue_upload_ladder(instance)

        found = [jobs_of(admin, {key: [HLS]}) for key in ("typeOneOf", "typeOneOf[]")]

        for listed in found:
            assert 5 == listed["total"]
            assert [HLS] * 5 == [j["type"] for j in listed["data"]]
