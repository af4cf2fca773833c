"""Videos API on both databases: uploads create PeerTube's job ladder (§5.8, §11 items 34–40,
81, 84, 92), refusals leave nothing behind, the custom config drives later uploads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.clips import MediaClips, jobs_of, set_config, upload
from tests.ladder import register_runner
from tests.support import RunningInstance, create_user, login, wait_until

WAITING, PENDING = 5, 1


def video_of(offered_job: dict[str, Any]) -> str:
    """The video UUID in an offered job's input URL (…/files/videos/<uuid>/max-quality)."""
    return str(offered_job["payload"]["input"]["videoFileUrl"].split("/")[-2])


def files_under(instance: RunningInstance, *parts: str) -> list[Path]:
    root = Path(instance.settings.data_dir).joinpath(*parts)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


class TestLadder:
    def test_720p_upload_makes_ten_jobs(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """A 720p upload with web + HLS: 10 jobs, 1 PENDING and 9 WAITING, 5 of each type (§11.35)."""
        r = upload(instance, media_clips.hd)
        assert 200 == r.status_code, r.text

        jobs = jobs_of(instance)

        assert 10 == len(jobs)
        assert [PENDING] + [WAITING] * 9 == [j["state"]["id"] for j in jobs]
        assert {"vod-hls-transcoding": 5, "vod-web-video-transcoding": 5} == {
            t: sum(j["type"] == t for j in jobs) for t in {j["type"] for j in jobs}
        }
        assert all("startedAt" not in j and "finishedAt" not in j for j in jobs)
        assert all(
            j["payload"] and j["privatePayload"]["videoUUID"] == r.json()["video"]["uuid"]
            for j in jobs
        )
        # N = 1: the upload itself is root's only video of the week.
        assert [101, 101] + [10001] * 8 == [j["priority"] for j in jobs]

    def test_an_uploaders_busy_week_pushes_their_jobs_back(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """Priorities are 100/10000 + N, N = the uploader's videos of the past week (§5.8): root's
        later uploads queue behind a second administrator's first."""
        root_videos = [
            upload(instance, media_clips.small).json()["video"]["uuid"] for _ in range(3)
        ]
        create_user(instance, "bob", role=0)
        with instance.client(
            headers={"Authorization": f"Bearer {login(instance.url, 'bob', 'bob-password')}"}
        ) as bob:
            r = bob.post(
                "/api/v1/videos/upload",
                data={"name": "bob's clip"},
                files={"videofile": ("small.mp4", media_clips.small.read_bytes())},
            )
        assert 200 == r.status_code, r.text
        bob_video = r.json()["video"]["uuid"]

        parents = [j for j in jobs_of(instance) if "parent" not in j]
        runner = register_runner(instance, name="picker")
        with instance.client() as c:
            offered = c.post(
                "/api/v1/runners/jobs/request", json={"runnerToken": runner["runnerToken"]}
            ).json()["availableJobs"]

        assert [101, 102, 103, 101] == [j["priority"] for j in parents]
        assert [*root_videos, bob_video] == [j["privatePayload"]["videoUUID"] for j in parents]
        assert {root_videos[0], bob_video} == {video_of(j) for j in offered[:2]}
        assert [root_videos[1], root_videos[2]] == [video_of(j) for j in offered[2:]]

    def test_admin_job_list_filters_on_real_uploads(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """No job before an upload; then priority sort and state/type filters behave (§11.34, 37, 39, 40)."""
        before = jobs_of(instance)
        upload(instance, media_clips.hd)

        with instance.admin() as c:
            by_priority = [
                j["priority"]
                for j in c.get(
                    "/api/v1/runners/jobs", params={"sort": "-priority", "count": 100}
                ).json()["data"]
            ]
            waiting = c.get("/api/v1/runners/jobs", params={"stateOneOf": 5, "count": 100}).json()[
                "data"
            ]
            completed = c.get("/api/v1/runners/jobs", params={"stateOneOf": 3}).json()["total"]
            hls = c.get(
                "/api/v1/runners/jobs", params={"typeOneOf": "vod-hls-transcoding", "count": 100}
            ).json()["data"]

        assert [] == before
        assert sorted(by_priority, reverse=True) == by_priority
        assert (9, {"Waiting for parent job to finish"}) == (
            len(waiting),
            {j["state"]["label"] for j in waiting},
        )
        assert 0 == completed
        assert (5, {"vod-hls-transcoding"}) == (len(hls), {j["type"] for j in hls})

    def test_only_the_optimize_job_is_offered(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """Runners are offered the optimize job alone, at the upload's resolution and fps (§11.45)."""
        from tests.clips import HttpRunner

        upload(instance, media_clips.hd)
        runner = HttpRunner.register(instance)

        offered = runner.request()

        assert [("vod-web-video-transcoding", {"resolution": 720, "fps": 25})] == [
            (j["type"], j["payload"]["output"]) for j in offered
        ]

    def test_two_uploads_make_twenty_jobs(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """A second upload doubles the job list; search by type still works (§11.36, 38)."""
        upload(instance, media_clips.hd)
        upload(instance, media_clips.hd, name="second video")

        with instance.admin() as c:
            listed = c.get("/api/v1/runners/jobs", params={"search": "hls", "count": 100}).json()

        assert 20 == len(jobs_of(instance))
        assert 10 == listed["total"]

    def test_portrait_clip_counts_its_short_side(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """A 240x426 portrait clip is a 240p video: 240 and 144 renditions, nothing larger."""
        upload(instance, media_clips.portrait)

        assert [240, 240, 144, 144] == [
            j["payload"]["output"]["resolution"] for j in jobs_of(instance)
        ]

    def test_audio_upload_makes_an_audio_merge_job(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """An Ogg upload with a preview: one available audio-merge job at 480p with both URLs (§11.92)."""
        r = upload(instance, media_clips.audio, preview=media_clips.preview)
        assert 200 == r.status_code, r.text

        jobs = jobs_of(instance)
        merge = jobs[0]

        assert "vod-audio-merge-transcoding" == merge["type"]
        assert {"resolution": 480, "fps": 25} == merge["payload"]["output"]
        assert merge["payload"]["input"]["audioFileUrl"].endswith("/max-quality")
        assert merge["payload"]["input"]["previewFileUrl"].endswith("/previews/max-quality")
        assert [PENDING] + [WAITING] * (len(jobs) - 1) == [j["state"]["id"] for j in jobs]

    def test_no_audio_means_no_audio_rendition(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """With 0p and split audio on, a silent clip still gets no audio-only job."""
        set_config(
            instance,
            {"transcoding": {"resolutions": {"0p": True}, "hls": {"splitAudioAndVideo": True}}},
        )

        upload(instance, media_clips.no_audio)

        assert 0 not in [j["payload"]["output"]["resolution"] for j in jobs_of(instance)]

    def test_split_audio_adds_the_audio_chain(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """With split audio, a clip with sound gets a required HLS 0p job next to HLS max."""
        set_config(instance, {"transcoding": {"hls": {"splitAudioAndVideo": True}}})

        upload(instance, media_clips.small)
        hls = [j for j in jobs_of(instance) if j["type"] == "vod-hls-transcoding"]

        assert [(240, True, 101), (0, True, 101), (144, True, 10001)] == [
            (
                j["payload"]["output"]["resolution"],
                j["payload"]["output"]["separatedAudio"],
                j["priority"],
            )
            for j in hls
        ]


class TestConfig:
    def test_transcoding_off_makes_no_job_and_publishes(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """With transcoding disabled an upload makes no job and is published as is (§11.81)."""
        set_config(instance, {"transcoding": {"enabled": False}})

        r = upload(instance, media_clips.small)
        with instance.client() as c:
            video = c.get(f"/api/v1/videos/{r.json()['video']['uuid']}").json()

        assert [] == jobs_of(instance)
        assert {"id": 1, "label": "Published"} == video["state"]
        assert 1 == len(video["files"])

    def test_web_only_makes_one_available_job(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """Web videos only, 720p: one available job at 720p / 25 fps, then 4 web jobs waiting (§11.84)."""
        set_config(instance, {"transcoding": {"hls": {"enabled": False}}})

        upload(instance, media_clips.hd)
        jobs = jobs_of(instance)

        assert [("vod-web-video-transcoding", 720, PENDING)] + [
            ("vod-web-video-transcoding", r, WAITING) for r in (480, 360, 240, 144)
        ] == [(j["type"], j["payload"]["output"]["resolution"], j["state"]["id"]) for j in jobs]

    def test_config_applies_to_later_uploads_only(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """Jobs already queued keep their shape when the configuration changes."""
        upload(instance, media_clips.small)
        set_config(instance, {"transcoding": {"resolutions": {"144p": False}}})
        upload(instance, media_clips.small, name="after the change")

        resolutions = [j["payload"]["output"]["resolution"] for j in jobs_of(instance)]

        assert [240, 240, 144, 144, 240, 240] == resolutions

    def test_custom_config_round_trips(self, instance: RunningInstance) -> None:
        """PUT stores the supported keys, ignores unknown ones, and GET shows them (camelCase)."""
        body = {
            "transcoding": {
                "remoteRunners": {"enabled": False},
                "fps": {"max": 30},
                "alwaysTranscodeOriginalResolution": True,
            },
            "videoStudio": {"remoteRunners": {"enabled": False}},
            "live": {"transcoding": {"remoteRunners": {"enabled": False}}},
            "instance": {"name": "ignored"},
        }
        set_config(instance, body)

        with instance.admin() as c:
            shown = c.get("/api/v1/config/custom").json()

        assert (False, 30, True) == (
            shown["transcoding"]["remoteRunners"]["enabled"],
            shown["transcoding"]["fps"]["max"],
            shown["transcoding"]["alwaysTranscodeOriginalResolution"],
        )
        assert False is shown["videoStudio"]["remoteRunners"]["enabled"]
        assert False is shown["live"]["transcoding"]["remoteRunners"]["enabled"]
        assert "instance" not in shown

    def test_bad_config_is_refused(self, instance: RunningInstance) -> None:
        """Wrong types, unknown resolutions and "neither web nor HLS" are 400s; anonymous is 401."""
        with instance.admin() as c:
            statuses = [
                c.put(
                    "/api/v1/config/custom", json={"transcoding": {"enabled": "yes"}}
                ).status_code,
                c.put(
                    "/api/v1/config/custom", json={"transcoding": {"resolutions": {"100p": True}}}
                ).status_code,
                c.put(
                    "/api/v1/config/custom",
                    json={
                        "transcoding": {"webVideos": {"enabled": False}, "hls": {"enabled": False}}
                    },
                ).status_code,
                c.put(
                    "/api/v1/config/custom", json={"transcoding": {"fps": {"max": 0}}}
                ).status_code,
            ]
        with instance.client() as c:
            anonymous = c.get("/api/v1/config/custom").status_code

        assert [400, 400, 400, 400] == statuses
        assert 401 == anonymous


class TestRefusals:
    def test_text_file_is_refused_and_leaves_nothing(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """A text file named .mp4 gets a 422 problem; no video, no job, no file remains."""
        r = upload(instance, media_clips.text)

        assert 422 == r.status_code
        assert "application/problem+json" == r.headers["content-type"]
        assert "unreadable" in r.json()["detail"]
        with instance.client() as c:
            assert 0 == c.get("/api/v1/videos").json()["total"]
        assert [] == jobs_of(instance)
        assert [] == files_under(instance, "web-videos") + files_under(
            instance, "tmp", "uploads"
        ) + files_under(instance, "previews")

    def test_truncated_file_is_refused_readably_and_the_instance_keeps_serving(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """A truncated MP4 gets a readable reason; the next upload works."""
        refused = upload(instance, media_clips.truncated)
        accepted = upload(instance, media_clips.small)

        assert 422 == refused.status_code
        assert "Invalid data found when processing input" in refused.json()["detail"]
        assert 200 == accepted.status_code

    def test_picture_is_not_a_video(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """A JPEG uploaded as the video is refused."""
        assert 422 == upload(instance, media_clips.preview).status_code

    def test_bad_preview_is_refused(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """A preview that is not a picture refuses the whole upload, leaving nothing."""
        r = upload(instance, media_clips.audio, preview=media_clips.text)

        assert 422 == r.status_code
        assert [] == files_under(instance, "web-videos") + files_under(instance, "previews")

    def test_upload_needs_a_name_a_file_and_an_admin(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """Missing name or file → 400; no token → 401."""
        with instance.admin() as c:
            no_name = c.post(
                "/api/v1/videos/upload",
                files={"videofile": ("a.mp4", media_clips.small.read_bytes())},
            )
            no_file = c.post(
                "/api/v1/videos/upload",
                data={"name": "nothing here"},
                files={"other": ("a.txt", b"x")},
            )
        with instance.client() as c:
            anonymous = c.post(
                "/api/v1/videos/upload", data={"name": "anon"}, files={"videofile": ("a.mp4", b"x")}
            )

        assert (400, 400, 401) == (no_name.status_code, no_file.status_code, anonymous.status_code)


class TestReadAndDelete:
    def test_video_is_found_by_id_uuid_and_short_uuid(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """The three identifier forms name the same video; a bad one is 400, an unknown one 404."""
        created = upload(instance, media_clips.small).json()["video"]

        with instance.client() as c:
            found = [
                c.get(f"/api/v1/videos/{ident}").json()["uuid"]
                for ident in (created["id"], created["uuid"], created["shortUUID"])
            ]
            bad = c.get("/api/v1/videos/a").status_code
            unknown = c.get("/api/v1/videos/3f2b8c1e-6d4a-4c2b-9a7e-1b2c3d4e5f60").status_code

        assert [created["uuid"]] * 3 == found
        assert (400, 404) == (bad, unknown)

    def test_video_details(self, instance: RunningInstance, media_clips: MediaClips) -> None:
        """A fresh upload is "To transcode" with its uploaded file and its jobs listed."""
        created = upload(instance, media_clips.small, name="details please").json()["video"]

        with instance.client() as c:
            video = c.get(f"/api/v1/videos/{created['uuid']}").json()
            listed = c.get("/api/v1/videos").json()

        assert {"id": 2, "label": "To transcode"} == video["state"]
        assert ("details please", 1) == (video["name"], video["duration"])
        assert [{"id": 240, "label": "240p"}] == [f["resolution"] for f in video["files"]]
        assert [] == video["streamingPlaylists"]
        assert 4 == len(video["jobs"])
        assert (1, created["uuid"]) == (listed["total"], listed["data"][0]["uuid"])

    def test_delete_cancels_jobs_and_removes_files(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """Deleting a video cancels its jobs, forgets it, and its files go."""
        created = upload(instance, media_clips.small).json()["video"]

        with instance.admin() as c:
            deleted = c.delete(f"/api/v1/videos/{created['uuid']}").status_code
            gone = c.get(f"/api/v1/videos/{created['uuid']}").status_code

        assert (204, 404) == (deleted, gone)
        assert {6, 8} >= {j["state"]["id"] for j in jobs_of(instance)}
        wait_until(
            lambda: not files_under(instance, "web-videos"), message="the upload to be deleted"
        )


class TestVideoState:
    def test_five_errors_fail_the_video(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """Five accept+error rounds on the first job: the video is "Transcoding failed" with the error (§11.82)."""
        from tests.clips import HttpRunner

        video_uuid = upload(instance, media_clips.small).json()["video"]["uuid"]
        runner = HttpRunner.register(instance)
        for round_ in range(5):
            job = runner.accept(runner.request()[0]["uuid"])
            with instance.client() as c:
                r = c.post(
                    f"/api/v1/runners/jobs/{job['uuid']}/error",
                    json={
                        "runnerToken": runner.token,
                        "jobToken": job["jobToken"],
                        "message": f"Error {round_}",
                    },
                )
            assert 204 == r.status_code, r.text

        with instance.client() as c:
            video = c.get(f"/api/v1/videos/{video_uuid}").json()

        assert {"id": 7, "label": "Transcoding failed"} == video["state"]
        assert "Error 4" == video["transcodingError"]
        assert {4, 7} == {j["state"]["id"] for j in jobs_of(instance)}

    def test_cancelling_the_pending_job_publishes(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """HLS only: the admin cancels the only pending job and the video is published (§11.83)."""
        set_config(instance, {"transcoding": {"webVideos": {"enabled": False}}})
        video_uuid = upload(instance, media_clips.small).json()["video"]["uuid"]
        pending = [j for j in jobs_of(instance) if j["state"]["id"] == PENDING]

        with instance.admin() as c:
            assert 204 == c.post(f"/api/v1/runners/jobs/{pending[0]['uuid']}/cancel").status_code
            video = c.get(f"/api/v1/videos/{video_uuid}").json()

        assert 1 == len(pending)
        assert {"id": 1, "label": "Published"} == video["state"]

    def test_optimize_success_publishes_a_web_only_video(
        self, instance: RunningInstance, media_clips: MediaClips
    ) -> None:
        """Web only, nothing below 240p: the optimize output replaces the upload and publishes (§11.85)."""
        from tests.clips import HttpRunner

        set_config(
            instance, {"transcoding": {"hls": {"enabled": False}, "resolutions": {"144p": False}}}
        )
        video_uuid = upload(instance, media_clips.small).json()["video"]["uuid"]
        runner = HttpRunner.register(instance)
        job = runner.accept(runner.request()[0]["uuid"])

        # A silent output for a video with sound: refused, and the job is offered again.
        assert 204 == runner.success(job, {"videoFile": media_clips.no_audio}).status_code
        with instance.client() as c:
            refused = c.get(f"/api/v1/videos/{video_uuid}").json()
        job = runner.accept(runner.request()[0]["uuid"])
        assert 204 == runner.success(job, {"videoFile": media_clips.small}).status_code
        with instance.client() as c:
            video = c.get(f"/api/v1/videos/{video_uuid}").json()
            served = c.get(video["files"][0]["fileUrl"])

        assert {"id": 2, "label": "To transcode"} == refused["state"]
        assert {"id": 1, "label": "Published"} == video["state"]
        assert media_clips.small.read_bytes() == served.content
