"""Bracketed multipart field names become key paths (protocol §1.2)."""

from __future__ import annotations

import pytest

from offload.http.errors import BadParams
from offload.http.multipart import split_field_name


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("runnerToken", ["runnerToken"]),
        ("payload[videoFile]", ["payload", "videoFile"]),
        ("payload[resolutionPlaylistFilename]", ["payload", "resolutionPlaylistFilename"]),
        ("a[b][c]", ["a", "b", "c"]),
        ("progress", ["progress"]),
    ],
)
def test_well_formed_names_split(name: str, expected: list[str]) -> None:
    """A plain name is one key; each bracket adds one nested key."""
    assert expected == split_field_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "",
        "payload[]",
        "[videoFile]",
        "payload[videoFile",
        "payload]videoFile[",
        "payload[a]b",
        "payload[a[b]]",
        "a[b][]",
        "payload[videoFile]\n",
    ],
)
def test_malformed_names_are_refused(name: str) -> None:
    """Empty keys and unbalanced or trailing brackets are a 400, not a guess."""
    with pytest.raises(BadParams):
        split_field_name(name)


def test_refusal_names_the_field() -> None:
    """The refusal lists the offending field name for the problem body."""
    with pytest.raises(BadParams) as caught:
        split_field_name("payload[]")

    assert ["payload[]"] == caught.value.fields
