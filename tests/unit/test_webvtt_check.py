"""The instance's WebVTT check on a transcription's caption: header, timings, cues inside the
video's duration (with Whisper's little padding allowed)."""

from __future__ import annotations

import pytest

from offload.domain.errors import OutputRefused
from offload.jobs.transcription_completion import END_TOLERANCE_S, check_webvtt


def test_cues_are_counted_in_every_timestamp_form() -> None:
    text = (
        "\ufeffWEBVTT - made by whisper\r\n\r\n"
        "1\r\n00:00.000 --> 00:01.500 align:start\r\nHello\r\n\r\n"
        "00:00:01.500 --> 00:00:03.000\r\nworld\r\n"
    )
    assert 2 == check_webvtt(text, 3.0)


def test_a_cue_may_end_a_little_past_the_end() -> None:
    end = 3.0 + END_TOLERANCE_S
    assert 1 == check_webvtt(f"WEBVTT\n\n00:00:00.000 --> 00:00:0{end:.3f}\nhi\n", 3.0)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        pytest.param("", "does not start with WEBVTT", id="empty"),
        pytest.param("WEBVTTX\n", "does not start with WEBVTT", id="bad-header"),
        pytest.param("WEBVTT\n\n00:00:01 --> 00:00:02\nx\n", "bad cue timing on line 3", id="no-ms"),
        pytest.param("WEBVTT\n\n00:00:02.000 --> 00:00:01.000\nx\n", "ends before it starts", id="backwards"),
        pytest.param("WEBVTT\n\n00:00:00.000 --> 00:00:05.000\nx\n", "past the end of the 3.000 s video", id="past-end"),
    ],
)  # fmt: skip
def test_bad_captions_are_refused_saying_why(text: str, reason: str) -> None:
    with pytest.raises(OutputRefused, match=reason):
        check_webvtt(text, 3.0)
