"""The admin UI over plain HTTP (no browser): sessions, CSRF, filters, pagination, dashboard,
uploads and settings."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from offload.domain.jobs import JobState
from tests.browser.runner_calls import accept_job, post_error
from tests.clips import HttpRunner
from tests.ladder import enqueue_upload_ladder, register_runner
from tests.media import make_clip
from tests.support import ADMIN_PASSWORD, RunningInstance, wait_until

CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match is not None, "no CSRF field in the page"
    return match.group(1)


@contextlib.contextmanager
def ui_login(
    instance: RunningInstance,
    username: str = "root",
    password: str = ADMIN_PASSWORD,
    next_path: str = "/admin/jobs",
) -> Iterator[tuple[httpx.Client, httpx.Response]]:
    """A client that went through the login form, with the form's answer."""
    with instance.client(follow_redirects=False) as client:
        form = client.get("/admin/login")
        answer = client.post(
            "/admin/login",
            data={
                "csrf": csrf_of(form.text),
                "username": username,
                "password": password,
                "next": next_path,
            },
        )
        yield client, answer


def rows_of(html: str) -> list[str]:
    """The job UUIDs of a jobs table, in order."""
    return re.findall(r'<tr data-job="([0-9a-f-]{36})"', html)


def test_pages_and_fragments_require_a_session(instance: RunningInstance) -> None:
    """A page redirects to the login form with `next`; a polled fragment answers 401."""
    with instance.client(follow_redirects=False) as c:
        page = c.get("/admin/jobs", params={"state": "1"})
        fragment = c.get("/admin/jobs/table", headers={"X-Requested-With": "fetch"})

    assert 303 == page.status_code
    assert "/admin/login?next=%2Fadmin%2Fjobs%3Fstate%3D1" == page.headers["location"]
    assert 401 == fragment.status_code


def test_login_sets_an_httponly_lax_session_cookie(instance: RunningInstance) -> None:
    """Logging in redirects to `next` with the session in an HttpOnly, SameSite=Lax cookie."""
    with ui_login(instance, next_path="/admin/tokens") as (_, answer):
        pass

    assert 303 == answer.status_code
    assert "/admin/tokens" == answer.headers["location"]
    cookie = next(
        v for v in answer.headers.get_list("set-cookie") if v.startswith("offload_admin=")
    )
    assert {"httponly", "samesite=lax", "path=/admin"} <= {
        part.strip().lower() for part in cookie.split(";")
    }


def test_login_refuses_foreign_next_and_plain_users(instance: RunningInstance) -> None:
    """`next` outside /admin is ignored, and a non-admin account cannot open a session."""
    with instance.admin() as c:
        created = c.post(
            "/api/v1/users",
            json={
                "username": "alice",
                "password": "alice-password",
                "email": "a@example.com",
                "role": 2,
            },
        )
    assert 200 == created.status_code, created.text

    with ui_login(instance, next_path="https://evil.example/admin") as (_, redirected):
        pass
    with ui_login(instance, username="alice", password="alice-password") as (_, refused):
        pass

    assert "/admin/jobs" == redirected.headers["location"]
    assert 403 == refused.status_code
    assert "This account cannot manage runners." in refused.text
    assert "offload_admin=" not in refused.headers.get("set-cookie", "")


def test_login_form_without_its_csrf_token_is_refused(instance: RunningInstance) -> None:
    """A login POST lacking the form's CSRF token opens no session."""
    with instance.client(follow_redirects=False) as c:
        answer = c.post(
            "/admin/login", data={"csrf": "forged", "username": "root", "password": ADMIN_PASSWORD}
        )

    assert 403 == answer.status_code
    assert "offload_admin=" not in answer.headers.get("set-cookie", "")


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_login_form_is_limited_after_failed_logins(
    instance_factory: Callable[..., RunningInstance],
) -> None:
    """Past the failed-login limit the form answers 429 with Retry-After and says why, right password or not."""
    instance = instance_factory(login_rate_limit_max=2, login_rate_limit_window_s=120.0)
    answers = []
    for password in ("wrong", "wrong", ADMIN_PASSWORD):
        with ui_login(instance, password=password) as (_, answer):
            answers.append(answer)

    assert [400, 400, 429] == [a.status_code for a in answers]
    assert "Too many failed logins" in answers[2].text
    assert 0 < int(answers[2].headers["retry-after"]) <= 120
    assert "offload_admin=" not in answers[2].headers.get("set-cookie", "")


def test_action_without_csrf_token_changes_nothing(instance: RunningInstance) -> None:
    """A cancel POST with a wrong CSRF token is answered 403 and the job stays pending."""
    jobs = enqueue_upload_ladder(instance)
    with ui_login(instance) as (client, _):
        forged = client.post(f"/admin/jobs/{jobs[0].uuid}/cancel", data={"csrf": "forged"})
        missing = client.post(f"/admin/jobs/{jobs[0].uuid}/delete")

    assert 403 == forged.status_code
    assert 403 == missing.status_code
    assert JobState.PENDING == instance.call(instance.services.jobs.get, jobs[0].uuid).state


def test_logout_revokes_the_session(instance: RunningInstance) -> None:
    """After logout the old session cookie no longer opens pages."""
    with ui_login(instance) as (client, _):
        page = client.get("/admin/runners")
        old_cookie = client.cookies.get("offload_admin")
        out = client.post("/admin/logout", data={"csrf": csrf_of(page.text)})
    with instance.client(follow_redirects=False, cookies={"offload_admin": str(old_cookie)}) as c:
        after = c.get("/admin/runners")

    assert 303 == out.status_code
    assert 303 == after.status_code


def test_pages_carry_security_headers(instance: RunningInstance) -> None:
    """Admin pages are never cached, never framed, and run only same-origin scripts."""
    with ui_login(instance) as (client, _):
        page = client.get("/admin/jobs")

    assert 200 == page.status_code
    assert "no-store" == page.headers["cache-control"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_jobs_filters_search_sort_and_pages(instance: RunningInstance) -> None:
    """State and type filters, runner-name search, sort and 20-row pages select the right jobs."""
    ladders = [enqueue_upload_ladder(instance) for _ in range(3)]
    runner = register_runner(instance, name="gpu-box")
    accept_job(instance, runner["runnerToken"], ladders[1][0].uuid)
    with ui_login(instance) as (client, _):
        first = client.get("/admin/jobs")
        second = client.get("/admin/jobs", params={"start": "20"})
        pending = client.get("/admin/jobs", params={"state": str(JobState.PENDING.value)})
        hls = client.get("/admin/jobs", params={"type": "vod-hls-transcoding", "sort": "createdAt"})
        by_runner = client.get("/admin/jobs/table", params={"search": "gpu-box"})
        by_uuid = client.get("/admin/jobs", params={"search": ladders[2][3].uuid})
        by_priority = client.get("/admin/jobs", params={"sort": "priority"})
        nonsense = client.get(
            "/admin/jobs",
            params={"state": "99", "type": "nope", "sort": "drop table", "start": "-4"},
        )

    assert 20 == len(rows_of(first.text))
    assert "1–20 of 30" in first.text
    assert 'href="/admin/jobs?start=20"' in first.text
    assert 10 == len(rows_of(second.text))
    assert "21–30 of 30" in second.text
    assert sorted([ladders[0][0].uuid, ladders[2][0].uuid]) == sorted(rows_of(pending.text))
    assert 15 == len(rows_of(hls.text))
    assert [ladders[1][0].uuid] == rows_of(by_runner.text)
    assert [ladders[2][3].uuid] == rows_of(by_uuid.text)
    assert {ladders[0][0].uuid, ladders[1][0].uuid, ladders[2][0].uuid} <= set(
        rows_of(by_priority.text)[:6]
    )
    assert 200 == nonsense.status_code
    assert 20 == len(rows_of(nonsense.text))


def test_dashboard_counts_runners_jobs_and_recent_failures(instance: RunningInstance) -> None:
    """The dashboard line counts online runners, pending/processing jobs and failures of the last hour."""
    jobs = enqueue_upload_ladder(instance)
    runner = register_runner(instance, name="gpu-box")
    job_token = accept_job(instance, runner["runnerToken"], jobs[0].uuid)
    post_error(instance, runner["runnerToken"], jobs[0].uuid, job_token, "ffmpeg exploded")
    accept_job(instance, runner["runnerToken"], jobs[0].uuid)
    with ui_login(instance) as (client, _):
        line = client.get("/admin/dashboard").text
        job_page = client.get(f"/admin/jobs/{jobs[0].uuid}").text

    stats = dict(re.findall(r'<strong id="stat-([a-z-]+)">(\d+)</strong>', line))
    assert {"runners-online": "1", "pending": "0", "processing": "1", "failures": "1"} == stats
    assert "ffmpeg exploded" in job_page
    assert 2 == job_page.count("gpu-box</td>")


def test_unknown_job_page_is_a_404_page(instance: RunningInstance) -> None:
    """A job page for a job that does not exist says so with a 404."""
    with ui_login(instance) as (client, _):
        page = client.get("/admin/jobs/8f5b1b5e-2a77-4c4e-9a59-2f8f6f4c1d10")

    assert 404 == page.status_code
    assert "Job not found" in page.text


def test_upload_without_csrf_token_creates_nothing(
    instance: RunningInstance, tmp_path: Path
) -> None:
    """An upload with a wrong CSRF header or no CSRF field is refused and no video appears."""
    clip = make_clip(tmp_path / "clip.mp4").read_bytes()
    with ui_login(instance) as (client, _):
        forged_header = client.post(
            "/admin/videos/upload",
            headers={"X-CSRF-Token": "forged", "X-Requested-With": "fetch"},
            data={"name": "Forged"},
            files={"videofile": ("clip.mp4", clip, "video/mp4")},
        )
        no_field = client.post(
            "/admin/videos/upload",
            data={"name": "Forged"},
            files={"videofile": ("clip.mp4", clip, "video/mp4")},
        )
    with instance.client() as c:
        videos = c.get("/api/v1/videos").json()

    assert 403 == forged_header.status_code
    assert 403 == no_field.status_code
    assert 0 == videos["total"]


def test_upload_of_a_non_video_is_refused_with_its_reason(instance: RunningInstance) -> None:
    """A file that is not audio or video comes back as a 422 with the service's message."""
    with ui_login(instance) as (client, _):
        csrf = csrf_of(client.get("/admin/videos").text)
        answer = client.post(
            "/admin/videos/upload",
            headers={"X-CSRF-Token": csrf, "X-Requested-With": "fetch"},
            data={"name": "Not a video"},
            files={"videofile": ("notes.txt", b"just some text", "text/plain")},
        )

    assert 422 == answer.status_code
    assert answer.json()["error"].startswith("Video file unreadable")


def test_settings_refused_by_the_config_service_change_nothing(instance: RunningInstance) -> None:
    """Turning off both web videos and HLS is refused with the API's message and nothing is stored."""
    with instance.admin() as c:
        before = c.get("/api/v1/config/custom").json()
    with ui_login(instance) as (client, _):
        csrf = csrf_of(client.get("/admin/settings").text)
        answer = client.post(
            "/admin/settings",
            data={"csrf": csrf, "transcoding": "on", "fps_max": "30", "action": "save"},
        )
        page = client.get("/admin/settings")
    with instance.admin() as c:
        after = c.get("/api/v1/config/custom").json()

    assert 303 == answer.status_code
    assert (
        "Not saved: You need to enable at least web_videos transcoding or hls transcoding"
        in page.text
    )
    assert before == after


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_video_page_shows_its_storyboard(
    instance_factory: Callable[..., RunningInstance], tmp_path: Path
) -> None:
    """Once a runner made the storyboard, the video's page shows the sheet at its full size."""
    instance = instance_factory(transcoding_enabled=False)
    clip = make_clip(tmp_path / "four.mp4", duration_s=4.0)
    with instance.admin() as c:
        video_uuid = c.post(
            "/api/v1/videos/upload",
            data={"name": "Four"},
            files={"videofile": (clip.name, clip.read_bytes())},
        ).json()["video"]["uuid"]
    runner = HttpRunner.register(instance)
    job = runner.accept(wait_until(runner.request, timeout_s=30, message="offer")[0]["uuid"])
    assert 204 == runner.success(job, runner.process(job, tmp_path / "work")).status_code
    with instance.client() as c:
        boards = wait_until(
            lambda: c.get(f"/api/v1/videos/{video_uuid}/storyboards").json()["storyboards"],
            timeout_s=30,
            message="storyboard stored",
        )

    with ui_login(instance) as (client, _):
        page = client.get(f"/admin/videos/{video_uuid}").text

    assert (
        f'<img class="storyboard" src="{boards[0]["storyboardPath"]}" width="768" height="144"'
        in page
    )
    assert "4×1 sprites of 192×144 px, one every 1 s." in page


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_video_page_lists_captions_plays_them_and_asks_for_more(
    instance_factory: Callable[..., RunningInstance], tmp_path: Path
) -> None:
    """A stored caption is listed on the video's page and given to the player as a track; the
    "Generate captions" button queues a new transcription, and so does the admin CLI, which
    also lists the captions."""
    from typer.testing import CliRunner

    from offload.cli import app

    instance = instance_factory(transcoding_enabled=False, transcription_enabled=True)
    clip = make_clip(tmp_path / "tone.mp4", duration_s=1.0)
    with instance.admin() as c:
        video_uuid = c.post(
            "/api/v1/videos/upload",
            data={"name": "Tone"},
            files={"videofile": (clip.name, clip.read_bytes())},
        ).json()["video"]["uuid"]
    runner = HttpRunner.register(instance)
    job = runner.accept(wait_until(runner.request, timeout_s=30, message="offer")[0]["uuid"])
    vtt = tmp_path / "tone.vtt"
    vtt.write_text("WEBVTT\n\n00:00:00.000 --> 00:00:00.800\nA tone.\n")
    assert 204 == runner.success(job, {"vttFile": vtt, "inputLanguage": "en"}).status_code
    with instance.client() as c:
        captions = wait_until(
            lambda: c.get(f"/api/v1/videos/{video_uuid}/captions").json()["data"],
            timeout_s=30,
            message="caption stored",
        )
    path = captions[0]["captionPath"]

    with ui_login(instance) as (client, _):
        page = client.get(f"/admin/videos/{video_uuid}").text
        asked = client.post(
            f"/admin/videos/{video_uuid}/captions/generate", data={"csrf": csrf_of(page)}
        )
    listed = CliRunner().invoke(app, ["videos", "captions", video_uuid, "--url", instance.url])
    again = CliRunner().invoke(
        app,
        ["videos", "generate-captions", video_uuid, "--url", instance.url],
        env={"OFFLOAD_ADMIN_PASSWORD": ADMIN_PASSWORD},
    )

    assert f'<track kind="captions" src="{path}" srclang="en" label="English">' in page
    assert f'<a href="{path}">English</a>' in page
    assert "Generate captions" in page
    assert 303 == asked.status_code
    assert 0 == listed.exit_code and "en (English)" in listed.stdout, listed.output
    # The button's job is pending: the CLI's second ask is refused, with PeerTube's reason.
    assert 1 == again.exit_code
    assert "already being transcribed" in again.output
    with instance.admin() as c:
        jobs = c.get("/api/v1/runners/jobs", params={"count": 100}).json()["data"]
    assert 2 == len([j for j in jobs if j["type"] == "video-transcription"])
