"""Validation of the `payload` posted to update and success (protocol §5, §11 items 56, 57, 60)."""

from __future__ import annotations

from typing import Any

import pytest

from offload.domain.errors import InvalidPayload
from offload.domain.jobs import JobType
from offload.domain.payloads import SUCCESS_FILE_FIELDS, UPDATE_FILE_FIELDS
from offload.jobs.registry import BUILTIN_KINDS

validate_success = BUILTIN_KINDS.verify_success
validate_update = BUILTIN_KINDS.verify_update

LIVE = JobType.LIVE_RTMP_HLS
NON_LIVE = [t for t in JobType if t is not LIVE]


class TestFileFields:
    def test_success_file_fields(self) -> None:
        """Success accepts exactly multer's four file fields."""
        assert {"videoFile", "resolutionPlaylistFile", "vttFile", "storyboardFile"} == set(
            SUCCESS_FILE_FIELDS
        )

    def test_update_file_fields(self) -> None:
        """Update accepts exactly the three live file fields."""
        assert {"videoChunkFile", "resolutionPlaylistFile", "masterPlaylistFile"} == set(
            UPDATE_FILE_FIELDS
        )


class TestValidateSuccess:
    @pytest.mark.parametrize(
        ("job_type", "fields", "files"),
        [
            (JobType.VOD_WEB_VIDEO, {}, {"videoFile"}),
            (JobType.VOD_HLS, {}, {"videoFile", "resolutionPlaylistFile"}),
            (JobType.VOD_AUDIO_MERGE, {}, {"videoFile"}),
            (JobType.STUDIO, {}, {"videoFile"}),
            (JobType.TRANSCRIPTION, {"inputLanguage": "ar"}, {"vttFile"}),
            (JobType.TRANSCRIPTION, {}, {"vttFile"}),
            (JobType.STORYBOARD, {}, {"storyboardFile"}),
            (LIVE, {}, set()),
        ],
    )
    def test_valid_payloads_pass(
        self, job_type: JobType, fields: dict[str, Any], files: set[str]
    ) -> None:
        """A success carrying exactly what its type needs is accepted."""
        assert None is validate_success(job_type, fields, files)

    @pytest.mark.parametrize(
        ("job_type", "fields", "files"),
        [
            pytest.param(JobType.VOD_WEB_VIDEO, {}, set(), id="web-video-without-file"),
            pytest.param(JobType.VOD_HLS, {}, {"videoFile"}, id="hls-without-playlist"),
            pytest.param(JobType.VOD_HLS, {}, {"resolutionPlaylistFile"}, id="hls-without-video"),
            pytest.param(JobType.VOD_AUDIO_MERGE, {}, set(), id="audio-merge-without-file"),
            pytest.param(JobType.STUDIO, {}, set(), id="studio-without-file"),
            pytest.param(
                JobType.TRANSCRIPTION,
                {"inputLanguage": "ar"},
                set(),
                id="transcription-without-vtt",
            ),
            pytest.param(JobType.STORYBOARD, {}, set(), id="storyboard-without-image"),
        ],
    )
    def test_missing_required_file_is_refused(
        self, job_type: JobType, fields: dict[str, Any], files: set[str]
    ) -> None:
        """A success without its required file(s) is an invalid payload (checklist 60)."""
        with pytest.raises(InvalidPayload) as caught:
            validate_success(job_type, fields, files)

        assert "Payload is invalid" == caught.value.message

    @pytest.mark.parametrize("fields", [{"type": "add-chunk"}, {"anything": "x"}])
    def test_live_success_must_be_empty(self, fields: dict[str, Any]) -> None:
        """A live success with any payload field is refused."""
        with pytest.raises(InvalidPayload):
            validate_success(LIVE, fields, set())

    def test_live_success_with_a_file_is_refused(self) -> None:
        """A live success with a file is refused."""
        with pytest.raises(InvalidPayload):
            validate_success(LIVE, {}, {"videoFile"})

    @pytest.mark.parametrize(
        "fields", [{"inputLanguage": 3}, {"inputLanguage": "ar", "other": "x"}]
    )
    def test_transcription_text_fields_are_checked(self, fields: dict[str, Any]) -> None:
        """Transcription accepts only a string `inputLanguage` as text field."""
        with pytest.raises(InvalidPayload):
            validate_success(JobType.TRANSCRIPTION, fields, {"vttFile"})

    @pytest.mark.parametrize(
        "job_type", [JobType.VOD_WEB_VIDEO, JobType.STUDIO, JobType.STORYBOARD]
    )
    def test_unexpected_text_fields_are_refused(self, job_type: JobType) -> None:
        """File-only success types refuse text fields."""
        with pytest.raises(InvalidPayload):
            validate_success(job_type, {"inputLanguage": "ar"}, {"videoFile", "storyboardFile"})


class TestValidateUpdate:
    @pytest.mark.parametrize("job_type", NON_LIVE)
    def test_empty_update_passes_for_non_live(self, job_type: JobType) -> None:
        """A progress-only update (no payload) is valid for every non-live type."""
        assert None is validate_update(job_type, {}, set())

    @pytest.mark.parametrize("job_type", NON_LIVE)
    def test_non_live_update_with_payload_is_refused(self, job_type: JobType) -> None:
        """Non-live updates must carry no payload fields or files."""
        with pytest.raises(InvalidPayload):
            validate_update(job_type, {"type": "add-chunk"}, set())
        with pytest.raises(InvalidPayload):
            validate_update(job_type, {}, {"videoChunkFile"})

    @pytest.mark.parametrize(
        ("fields", "files"),
        [
            pytest.param(
                {"type": "add-chunk", "videoChunkFilename": "0-000067.ts"},
                {"videoChunkFile"},
                id="chunk-only",
            ),
            pytest.param(
                {
                    "type": "add-chunk",
                    "videoChunkFilename": "0-000067.ts",
                    "resolutionPlaylistFilename": "0.m3u8",
                },
                {"videoChunkFile", "resolutionPlaylistFile", "masterPlaylistFile"},
                id="chunk-playlist-master",
            ),
            pytest.param(
                {"type": "remove-chunk", "videoChunkFilename": "1-000068.ts"},
                set(),
                id="remove-chunk",
            ),
        ],
    )
    def test_valid_live_updates_pass(self, fields: dict[str, Any], files: set[str]) -> None:
        """Well-formed add-chunk and remove-chunk updates are accepted."""
        assert None is validate_update(LIVE, fields, files)

    @pytest.mark.parametrize(
        "fields",
        [
            pytest.param(
                {"type": "add-chunk", "videoChunkFilename": "0-000067.ts"}, id="filename-missing"
            ),
            pytest.param(
                {
                    "type": "add-chunk",
                    "videoChunkFilename": "0-000067.ts",
                    "resolutionPlaylistFilename": "coucou/hello",
                },
                id="filename-with-slash",
            ),
            pytest.param(
                {
                    "type": "add-chunk",
                    "videoChunkFilename": "0-000067.ts",
                    "resolutionPlaylistFilename": "hello",
                },
                id="filename-without-extension",
            ),
        ],
    )
    def test_playlist_file_needs_a_valid_filename(self, fields: dict[str, Any]) -> None:
        """A playlist file without a valid `resolutionPlaylistFilename` is refused (item 56)."""
        with pytest.raises(InvalidPayload):
            validate_update(LIVE, fields, {"videoChunkFile", "resolutionPlaylistFile"})

    @pytest.mark.parametrize(
        "fields",
        [
            pytest.param({"videoChunkFilename": "0-000067.ts"}, id="type-missing"),
            pytest.param({"type": "toto", "videoChunkFilename": "0-000067.ts"}, id="type-toto"),
        ],
    )
    def test_live_update_type_must_be_known(self, fields: dict[str, Any]) -> None:
        """A live update with `type` missing or unknown is refused (checklist 57)."""
        with pytest.raises(InvalidPayload):
            validate_update(LIVE, fields, {"videoChunkFile"})

    @pytest.mark.parametrize(
        ("fields", "files"),
        [
            pytest.param({"type": "add-chunk"}, {"videoChunkFile"}, id="chunk-name-missing"),
            pytest.param(
                {"type": "add-chunk", "videoChunkFilename": "../x.ts"},
                {"videoChunkFile"},
                id="chunk-name-traversal",
            ),
            pytest.param(
                {"type": "add-chunk", "videoChunkFilename": "0-1.mp4"},
                {"videoChunkFile"},
                id="chunk-name-extension",
            ),
            pytest.param(
                {"type": "add-chunk", "videoChunkFilename": "0-1.ts"},
                set(),
                id="add-without-chunk-file",
            ),
            pytest.param(
                {
                    "type": "add-chunk",
                    "videoChunkFilename": "0-1.ts",
                    "resolutionPlaylistFilename": "0.m3u8",
                },
                {"videoChunkFile"},
                id="playlist-name-without-file",
            ),
            pytest.param(
                {"type": "add-chunk", "videoChunkFilename": "0-1.ts", "extra": "x"},
                {"videoChunkFile"},
                id="unknown-field",
            ),
        ],
    )
    def test_other_malformed_live_updates_are_refused(
        self, fields: dict[str, Any], files: set[str]
    ) -> None:
        """Chunk names, the chunk file and the playlist pairing are all checked."""
        with pytest.raises(InvalidPayload):
            validate_update(LIVE, fields, files)
