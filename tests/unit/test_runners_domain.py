"""Runner field rules: UUIDv4 job ids and the version format (protocol §1.5, R1)."""

from __future__ import annotations

import uuid

import pytest

from offload.domain.runners import LIVE_CHUNK_RE, LIVE_PLAYLIST_RE, VERSION_RE, is_uuid_v4


class TestIsUuidV4:
    def test_fresh_uuid4_is_valid(self) -> None:
        """A freshly generated uuid4 is accepted."""
        assert is_uuid_v4(str(uuid.uuid4()))

    def test_uppercase_uuid4_is_valid(self) -> None:
        """validator.js accepts the uppercase form too."""
        assert is_uuid_v4(str(uuid.uuid4()).upper())

    @pytest.mark.parametrize(
        "value",
        [
            pytest.param("", id="empty"),
            pytest.param("a", id="a"),
            pytest.param("hello", id="hello"),
            pytest.param(str(uuid.uuid1()), id="version-1"),
            pytest.param(str(uuid.uuid3(uuid.NAMESPACE_DNS, "x")), id="version-3"),
            pytest.param(str(uuid.uuid5(uuid.NAMESPACE_DNS, "x")), id="version-5"),
            pytest.param(uuid.uuid4().hex, id="no-hyphens"),
            pytest.param("{" + str(uuid.uuid4()) + "}", id="braces"),
            pytest.param("urn:uuid:" + str(uuid.uuid4()), id="urn"),
            pytest.param("123e4567-e89b-42d3-c456-426614174000", id="wrong-variant"),
            pytest.param("123e4567-e89b-42d3-a456-42661417400g", id="non-hex"),
        ],
    )
    def test_other_values_are_refused(self, value: str) -> None:
        """Anything but a hyphenated version-4 RFC UUID is refused."""
        assert not is_uuid_v4(value)


class TestVersionRe:
    @pytest.mark.parametrize(
        "value", ["1.0.0", "0.4.12", "10.20.30", "1.0.0-alpha.1", "2.0.0-beta.3", "1.2.3-rc.10"]
    )
    def test_accepted_versions(self, value: str) -> None:
        """`X.Y.Z` and `X.Y.Z-(alpha|beta|rc).N` are accepted."""
        assert VERSION_RE.match(value) is not None

    @pytest.mark.parametrize(
        "value",
        [
            "",
            "invalid",
            "1.0",
            "1.0.0.0",
            "v1.0.0",
            "1.0.0-dev.1",
            "1.0.0-rc",
            "1.0.0-rc.x",
            "1.0.0 ",
            "1.0.0\n",
            "\u0661.\u0660.\u0660",  # Arabic-Indic digits, which `\d` accepts
        ],
    )
    def test_refused_versions(self, value: str) -> None:
        """Any other shape is refused."""
        assert VERSION_RE.match(value) is None


class TestLiveNames:
    def test_chunk_names(self) -> None:
        """Live chunk names are `[a-z0-9-]+.ts`."""
        assert [True, False, False] == [
            LIVE_CHUNK_RE.match(n) is not None for n in ("0-000067.ts", "../0.ts", "0.m3u8")
        ]

    def test_playlist_names(self) -> None:
        """Live playlist names are `[a-z0-9-]+.m3u8`."""
        assert [True, False, False] == [
            LIVE_PLAYLIST_RE.match(n) is not None for n in ("0.m3u8", "coucou/hello", "hello")
        ]

    def test_trailing_newline_is_refused(self) -> None:
        """A name followed by a newline is not a valid live file name."""
        assert (None, None) == (LIVE_CHUNK_RE.match("0-1.ts\n"), LIVE_PLAYLIST_RE.match("0.m3u8\n"))
