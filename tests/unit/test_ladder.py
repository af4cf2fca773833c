"""The VOD job ladder (protocol.md §5.8), the video decisions and the playlists, as pure functions."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime

import pytest

from offload.domain.jobs import JobState, JobType
from offload.domain.ladder import (
    DEFAULT_RESOLUTIONS,
    LadderJob,
    SourceFile,
    TranscodingConfig,
    build_vod_ladder,
    compute_output_fps,
    original_resolution,
    recent_uploads_since,
    resolutions_to_transcode,
)
from offload.domain.videos import (
    VideoFile,
    VideoState,
    max_quality_file,
    next_video_state,
    parse_video_id,
    short_uuid,
    uuid_from_short,
)
from offload.media.playlists import PlaylistError, master_playlist, parse_resolution_playlist

PUBLIC = "http://127.0.0.1:9000"
VIDEO = "3f2b8c1e-6d4a-4c2b-9a7e-1b2c3d4e5f60"


def ladder(source: SourceFile, config: TranscodingConfig | None = None) -> list[LadderJob]:
    counter = itertools.count(1)
    return build_vod_ladder(
        source,
        config or TranscodingConfig(),
        video_uuid=VIDEO,
        public_url=PUBLIC,
        new_uuid=lambda: f"00000000-0000-4000-8000-{next(counter):012d}",
    )


def video_720(**overrides: object) -> SourceFile:
    values: dict[str, object] = {
        "file_id": 7,
        "resolution": 720,
        "fps": 25.0,
        "has_audio": True,
        "has_video": True,
    }
    values.update(overrides)
    return SourceFile(**values)  # type: ignore[arg-type]


def summary(jobs: list[LadderJob]) -> list[tuple[str, int, int | None, bool]]:
    return [
        (
            "web"
            if j.spec.type is JobType.VOD_WEB_VIDEO
            else "hls"
            if j.spec.type is JobType.VOD_HLS
            else "merge",
            j.spec.payload["output"]["resolution"],  # type: ignore[index]
            j.spec.parent,
            j.required,
        )
        for j in jobs
    ]


class TestLadderShape:
    def test_720p_web_and_hls_gives_ten_jobs(self) -> None:
        """A 720p upload with web + HLS and every resolution gives PeerTube's 10 jobs."""
        jobs = ladder(video_720())

        expected = [
            ("web", 720, None, True),
            ("hls", 720, 0, True),
            ("web", 480, 0, False),
            ("hls", 480, 2, False),
            ("web", 360, 0, False),
            ("hls", 360, 4, False),
            ("web", 240, 0, False),
            ("hls", 240, 6, False),
            ("web", 144, 0, False),
            ("hls", 144, 8, False),
        ]
        assert expected == summary(jobs)

    def test_priorities_are_required_100_and_optional_10000(self) -> None:
        """Required jobs get 100 + N and optional ones 10000 + N, with N = 0."""
        jobs = ladder(video_720())

        assert [100, 100] + [10000] * 8 == [j.spec.priority for j in jobs]

    def test_recent_uploads_push_every_job_back(self) -> None:
        """N, the uploader's recent uploads, is added to both classes."""
        jobs = build_vod_ladder(
            video_720(),
            TranscodingConfig(),
            video_uuid=str(uuid.uuid4()),
            public_url="http://i",
            new_uuid=lambda: str(uuid.uuid4()),
            recent_uploads=3,
        )

        assert [103, 103] + [10003] * 8 == [j.spec.priority for j in jobs]

    @pytest.mark.parametrize(
        ("now", "expected"),
        [
            (datetime(2026, 11, 28, 18, 5, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)),
            (datetime(2026, 11, 28, 0, 0, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC)),
            (datetime(2026, 3, 3, 23, 59, tzinfo=UTC), datetime(2026, 2, 24, tzinfo=UTC)),
        ],
    )
    def test_recent_uploads_window_starts_at_midnight_a_week_ago(
        self, now: datetime, expected: datetime
    ) -> None:
        assert expected == recent_uploads_since(now)

    def test_web_only_makes_one_chain_per_resolution(self) -> None:
        """Web videos only: the optimize job and one web job per lower resolution."""
        jobs = ladder(video_720(), TranscodingConfig(hls=False))

        assert [("web", 720, None, True)] + [
            ("web", r, 0, False) for r in (480, 360, 240, 144)
        ] == summary(jobs)

    def test_hls_only_chains_hang_off_the_parent(self) -> None:
        """HLS only: each HLS rendition waits for the optimize job and web files get deleted."""
        jobs = ladder(video_720(), TranscodingConfig(web_videos=False))

        assert [("web", 720, None, True)] + [
            ("hls", r, 0, r == 720) for r in (720, 480, 360, 240, 144)
        ] == summary(jobs)
        assert True is jobs[1].spec.private_payload["deleteWebVideoFiles"]
        assert False is jobs[2].spec.private_payload["deleteWebVideoFiles"]

    def test_split_audio_adds_a_required_audio_chain(self) -> None:
        """Split audio: an HLS 0p chain is required and every HLS rendition is video-only."""
        config = TranscodingConfig(split_audio=True, resolutions=DEFAULT_RESOLUTIONS | {0})
        jobs = ladder(video_720(), config)

        assert ("hls", 0, 0, True) == summary(jobs)[2]
        assert ("web", 0, 0, False) == summary(jobs)[3]  # 0p web video, its HLS already made
        assert ("web", 480, 0, False) == summary(jobs)[4]
        assert all(
            j.spec.payload["output"]["separatedAudio"]
            for j in jobs
            if j.spec.type is JobType.VOD_HLS
        )  # type: ignore[index]
        assert [0, 0] == [
            jobs[2].spec.payload["output"]["fps"],
            jobs[3].spec.payload["output"]["fps"],
        ]  # type: ignore[index]

    def test_no_audio_means_no_audio_chain(self) -> None:
        """Without an audio stream neither the split audio chain nor 0p is made."""
        config = TranscodingConfig(split_audio=True, resolutions=DEFAULT_RESOLUTIONS | {0})
        jobs = ladder(video_720(has_audio=False), config)

        assert 0 not in [r for _, r, _, _ in summary(jobs)]
        assert all(
            not j.spec.payload["output"]["separatedAudio"]
            for j in jobs
            if j.spec.type is JobType.VOD_HLS
        )  # type: ignore[index]

    def test_no_upscaling(self) -> None:
        """A 240p upload never gets renditions above 240p."""
        jobs = ladder(video_720(resolution=240))

        assert {240, 144} == {r for _, r, _, _ in summary(jobs)}

    def test_portrait_uses_the_short_side(self) -> None:
        """A 360x640 portrait clip is a 360p video."""
        jobs = ladder(video_720(resolution=360))

        assert [360, 360, 240, 240, 144, 144] == [r for _, r, _, _ in summary(jobs)]

    def test_audio_upload_gets_an_audio_merge_parent(self) -> None:
        """An audio-only upload starts with an audio merge at 480p, 25 fps."""
        jobs = ladder(SourceFile(file_id=3, resolution=0, fps=0, has_audio=True, has_video=False))

        assert ("merge", 480, None, True) == summary(jobs)[0]
        assert {"resolution": 480, "fps": 25} == jobs[0].spec.payload["output"]
        assert [("hls", 480, 0, True), ("web", 360, 0, False), ("hls", 360, 2, False)] == summary(
            jobs
        )[1:4]

    def test_transcoding_off_makes_no_job(self) -> None:
        """With transcoding disabled no job is created."""
        assert [] == ladder(video_720(), TranscodingConfig(enabled=False))

    def test_only_the_childless_parent_can_move_the_video(self) -> None:
        """`canMoveVideoState` is true for children, and for the parent only without children."""
        with_children = ladder(video_720())
        alone = ladder(video_720(), TranscodingConfig(hls=False, resolutions=frozenset({720})))

        assert [False] + [True] * 9 == [
            j.spec.private_payload["canMoveVideoState"] for j in with_children
        ]
        assert [True] == [j.spec.private_payload["canMoveVideoState"] for j in alone]


class TestPayloads:
    def test_optimize_payload_urls_carry_the_job_uuid(self) -> None:
        """Input URLs have PeerTube's shape: job UUID, then video UUID."""
        job = ladder(video_720())[0]

        expected_url = f"{PUBLIC}/api/v1/runners/jobs/{job.uuid}/files/videos/{VIDEO}/max-quality"
        assert {
            "input": {"videoFileUrl": expected_url, "separatedAudioFileUrl": []},
            "output": {"resolution": 720, "fps": 25},
        } == job.spec.payload
        assert {
            "videoUUID": VIDEO,
            "isNewVideo": True,
            "deleteInputFileId": 7,
            "canMoveVideoState": False,
        } == job.spec.private_payload

    def test_audio_merge_payload(self) -> None:
        """The audio merge job reads the audio file and the preview."""
        job = ladder(SourceFile(file_id=3, resolution=0, fps=0, has_audio=True, has_video=False))[0]

        base = f"{PUBLIC}/api/v1/runners/jobs/{job.uuid}/files/videos/{VIDEO}"
        assert {
            "audioFileUrl": f"{base}/max-quality",
            "previewFileUrl": f"{base}/previews/max-quality",
        } == job.spec.payload["input"]

    def test_audio_rendition_reads_the_audio_url(self) -> None:
        """The 0p rendition's input is the `/max-quality/audio` URL."""
        config = TranscodingConfig(split_audio=True)
        audio_job = ladder(video_720(), config)[2]

        assert audio_job.spec.payload["input"]["videoFileUrl"].endswith(
            f"/{VIDEO}/max-quality/audio"
        )  # type: ignore[index]

    def test_every_job_has_its_own_uuid(self) -> None:
        """Each job's URLs name that job."""
        jobs = ladder(video_720())

        assert len(jobs) == len({j.uuid for j in jobs})
        assert all(f"/jobs/{j.uuid}/" in j.spec.payload["input"]["videoFileUrl"] for j in jobs)  # type: ignore[index]


class TestResolutionsAndFps:
    def test_original_resolution_rounds_down_to_an_enabled_one(self) -> None:
        """An odd 1000p upload is optimized to 720p unless the original is always kept."""
        assert 720 == original_resolution(1000, TranscodingConfig())
        assert 1000 == original_resolution(1000, TranscodingConfig(always_transcode_original=True))
        assert 100 == original_resolution(101, TranscodingConfig())

    def test_creation_order_is_peertubes(self) -> None:
        """Lower resolutions come in PeerTube's order, 0p only with audio."""
        config = TranscodingConfig(resolutions=DEFAULT_RESOLUTIONS | {0})

        assert [0, 480, 360, 720, 240, 144, 1080] == resolutions_to_transcode(
            1440, config, strict_lower=True, has_audio=True
        )
        assert [480, 360, 240, 144] == resolutions_to_transcode(
            720, config, strict_lower=True, has_audio=False
        )

    @pytest.mark.parametrize(
        ("input_fps", "resolution", "is_origin", "fps_max", "expected"),
        [
            (25, 720, True, 60, 25),
            (60, 480, False, 60, 30),
            (50, 360, False, 60, 25),
            (120, 1080, True, 60, 120),
            (120, 1080, False, 60, 60),
            (29.97, 720, True, 60, 30),
            (60, 720, False, 30, 30),
            (0, 0, False, 60, 0),
        ],
    )
    def test_output_fps(
        self, input_fps: float, resolution: int, is_origin: bool, fps_max: int, expected: int
    ) -> None:
        """`computeOutputFPS`: small renditions get a standard rate, others are capped by fps.max."""
        assert expected == compute_output_fps(
            input_fps, resolution, is_origin=is_origin, fps_max=fps_max
        )


class TestVideoDecisions:
    def test_short_uuid_round_trips(self) -> None:
        """Short UUIDs are 22 base-58 characters that decode to the same UUID."""
        value = str(uuid.uuid4())
        short = short_uuid(value)

        assert 22 == len(short)
        assert value == uuid_from_short(short)

    def test_short_uuid_is_left_padded(self) -> None:
        """Small values are padded with the alphabet's first character, as short-uuid does."""
        assert "1111111111111111111112" == short_uuid("00000000-0000-0000-0000-000000000001")

    @pytest.mark.parametrize(
        ("raw", "valid"),
        [
            ("42", True),
            ("a", False),
            (VIDEO, True),
            (VIDEO.upper(), True),
            ("", False),
            ("3f2b8c1e-6d4a-1c2b-9a7e-1b2c3d4e5f60", False),
        ],
    )
    def test_video_id_forms(self, raw: str, valid: bool) -> None:
        """Numeric ids, UUID v4 and short UUIDs are valid video ids; anything else is not."""
        assert valid == (parse_video_id(raw) is not None)

    def test_short_video_id_is_understood(self) -> None:
        """A short UUID names the same video as its long form."""
        parsed = parse_video_id(short_uuid(VIDEO))

        assert parsed is not None
        assert VIDEO == parsed.uuid

    def test_video_published_once_required_jobs_end(self) -> None:
        """Required jobs completed → published; an optional job may still run."""
        jobs = [(True, JobState.COMPLETED), (True, JobState.COMPLETED), (False, JobState.PENDING)]

        assert VideoState.PUBLISHED == next_video_state(VideoState.TO_TRANSCODE, jobs)

    def test_video_waits_for_required_jobs(self) -> None:
        """A required job still running keeps the video in transcoding."""
        jobs = [(True, JobState.COMPLETED), (True, JobState.PENDING)]

        assert VideoState.TO_TRANSCODE == next_video_state(VideoState.TO_TRANSCODE, jobs)

    def test_errored_job_fails_the_video(self) -> None:
        """Any errored job fails a video not yet published."""
        jobs = [(True, JobState.ERRORED), (True, JobState.PARENT_ERRORED)]

        assert VideoState.TRANSCODING_FAILED == next_video_state(VideoState.TO_TRANSCODE, jobs)
        assert VideoState.PUBLISHED == next_video_state(VideoState.PUBLISHED, jobs)

    def test_cancelled_jobs_publish(self) -> None:
        """Cancelling the pending jobs publishes the video as it is."""
        jobs = [(True, JobState.CANCELLED), (True, JobState.PARENT_CANCELLED)]

        assert VideoState.PUBLISHED == next_video_state(VideoState.TO_TRANSCODE, jobs)


def file(
    id_: int,
    kind: str,
    resolution: int,
    *,
    video: bool = True,
    audio: bool = True,
    fps: int = 25,
    bandwidth: int = 1000,
) -> VideoFile:
    return VideoFile(
        id=id_,
        video_id=1,
        kind=kind,
        filename=f"f{id_}.mp4",
        playlist_filename=f"f{id_}.m3u8" if kind == "hls" else None,
        resolution=resolution,
        fps=fps if video else 0,
        width=resolution * 16 // 9 if video else 0,
        height=resolution if video else 0,
        size=1000,
        duration_s=1.0,
        bandwidth=bandwidth,
        codecs=",".join(
            c for c in ("avc1.64001F" if video else "", "mp4a.40.2" if audio else "") if c
        ),
        has_video=video,
        has_audio=audio,
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
    )


class TestMaxQualityFile:
    def test_highest_resolution_wins_and_web_before_hls(self) -> None:
        """R9 reads the highest resolution; at equal resolution the web file (both streams)."""
        files = [file(1, "web", 240), file(2, "hls", 720), file(3, "web", 720)]

        chosen = max_quality_file(files)

        assert 3 == (chosen.id if chosen else None)

    def test_audio_route_prefers_the_split_audio_file(self) -> None:
        """R10 reads the audio-only rendition when audio is split, else a file with sound."""
        split = [file(1, "hls", 720, audio=False), file(2, "hls", 0, video=False)]
        muxed = [file(1, "web", 720)]

        assert 2 == (
            max_quality_file(split, audio=True).id if max_quality_file(split, audio=True) else None
        )
        assert 1 == (
            max_quality_file(muxed, audio=True).id if max_quality_file(muxed, audio=True) else None
        )

    def test_audio_upload_is_its_own_max_quality(self) -> None:
        """Before the merge, an audio upload is the file R9 serves."""
        chosen = max_quality_file([file(1, "web", 0, video=False)])

        assert 1 == (chosen.id if chosen else None)


class TestPlaylists:
    RUNNER_PLAYLIST = (
        "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:4\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n"
        '#EXT-X-MAP:URI="abc-720-fragmented.mp4",BYTERANGE="1000@0"\n'
        "#EXTINF:4.000000,\n#EXT-X-BYTERANGE:5000@1000\nabc-720-fragmented.mp4\n"
        "#EXTINF:2.000000,\n#EXT-X-BYTERANGE:3000@6000\nabc-720-fragmented.mp4\n#EXT-X-ENDLIST\n"
    )

    def test_resolution_playlist_is_pointed_at_the_stored_file(self) -> None:
        """Every URI of the runner's playlist is renamed to the instance's file name."""
        parsed = parse_resolution_playlist(self.RUNNER_PLAYLIST, 9000, "mine-720-fragmented.mp4")

        assert (2, 6.0) == (parsed.segments, parsed.duration_s)
        assert "abc" not in parsed.text
        assert 3 == parsed.text.count("mine-720-fragmented.mp4")

    @pytest.mark.parametrize(
        ("text", "size", "reason"),
        [
            ("not a playlist", 9000, "#EXTM3U"),
            (RUNNER_PLAYLIST, 8999, "beyond"),
            ("#EXTM3U\n#EXT-X-ENDLIST\n", 9000, "no segment"),
            (
                RUNNER_PLAYLIST.replace(
                    "abc-720-fragmented.mp4\n#EXT-X-ENDLIST", "other.mp4\n#EXT-X-ENDLIST"
                ),
                9000,
                "names 2 files",
            ),
        ],
    )
    def test_bad_resolution_playlists_are_refused(self, text: str, size: int, reason: str) -> None:
        """Playlists that are not one VOD rendition of the file sent with them are refused."""
        with pytest.raises(PlaylistError, match=reason):
            parse_resolution_playlist(text, size, "mine.mp4")

    def test_master_lists_every_rendition(self) -> None:
        """Each rendition has BANDWIDTH, RESOLUTION and CODECS, lowest first."""
        master = master_playlist([file(2, "hls", 720), file(1, "hls", 240)])

        assert [
            '#EXT-X-STREAM-INF:BANDWIDTH=1000,RESOLUTION=426x240,FRAME-RATE=25,CODECS="avc1.64001F,mp4a.40.2"',
            "f1.m3u8",
            '#EXT-X-STREAM-INF:BANDWIDTH=1000,RESOLUTION=1280x720,FRAME-RATE=25,CODECS="avc1.64001F,mp4a.40.2"',
            "f2.m3u8",
        ] == master.strip().split("\n")[3:]

    def test_split_audio_becomes_an_audio_group(self) -> None:
        """With split audio the audio rendition is an EXT-X-MEDIA every video rendition refers to."""
        master = master_playlist(
            [file(1, "hls", 0, video=False, bandwidth=100), file(2, "hls", 720, audio=False)]
        )

        assert (
            '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Audio",AUTOSELECT=YES,DEFAULT=YES,URI="f1.m3u8"'
            in master
        )
        assert (
            '#EXT-X-STREAM-INF:BANDWIDTH=1100,RESOLUTION=1280x720,FRAME-RATE=25,CODECS="avc1.64001F,mp4a.40.2",AUDIO="audio"'
            in master
        )
        assert 1 == master.count("#EXT-X-STREAM-INF")
