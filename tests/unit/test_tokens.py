"""Token formats, storage digests and constant-time matching (protocol §1.4)."""

from __future__ import annotations

import hashlib
import re
import uuid

import pytest

from offload.domain import tokens

UUID4_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


@pytest.mark.parametrize(
    ("make", "prefix"),
    [
        (tokens.new_runner_token, "ptrt-"),
        (tokens.new_job_token, "ptrjt-"),
        (tokens.new_registration_token, "ptrrt-"),
    ],
)
class TestTokenShape:
    def test_token_has_prefix_and_uuid4(self, make: object, prefix: str) -> None:
        """Each token is PeerTube's prefix followed by a canonical lowercase UUIDv4."""
        token = make()  # type: ignore[operator]

        assert prefix == token[: len(prefix)]
        rest = token[len(prefix) :]
        assert UUID4_RE.match(rest) is not None
        assert 4 == uuid.UUID(rest).version

    def test_tokens_are_unique(self, make: object, prefix: str) -> None:
        """A hundred tokens are a hundred different values."""
        assert 100 == len({make() for _ in range(100)})  # type: ignore[operator]


def test_prefix_constants() -> None:
    """The prefix constants are PeerTube's."""
    assert ("ptrt-", "ptrjt-", "ptrrt-") == (
        tokens.RUNNER_TOKEN_PREFIX,
        tokens.JOB_TOKEN_PREFIX,
        tokens.REGISTRATION_TOKEN_PREFIX,
    )


def test_digest_is_sha256_hex() -> None:
    """A token is stored as the SHA-256 hex digest of its UTF-8 bytes."""
    assert hashlib.sha256(b"ptrt-abc").hexdigest() == tokens.digest("ptrt-abc")


def test_digest_differs_from_token_and_is_stable() -> None:
    """The digest never equals the token and is the same on every call."""
    token = tokens.new_runner_token()

    assert tokens.digest(token) == tokens.digest(token)
    assert token != tokens.digest(token)
    assert 64 == len(tokens.digest(token))


def test_digests_match_accepts_the_right_token() -> None:
    """The presented token matches the digest it was stored under."""
    token = tokens.new_job_token()

    assert tokens.digests_match(token, tokens.digest(token))


def test_digests_match_refuses_another_token() -> None:
    """Another token does not match."""
    assert not tokens.digests_match(tokens.new_job_token(), tokens.digest(tokens.new_job_token()))


def test_digests_match_refuses_missing_digest() -> None:
    """A job without a stored digest (token cleared) matches nothing."""
    assert not tokens.digests_match("ptrjt-anything", None)


def test_digests_match_refuses_the_digest_itself() -> None:
    """Presenting the stored digest instead of the token does not match."""
    stored = tokens.digest("ptrjt-x")

    assert not tokens.digests_match(stored, stored)


def test_new_secret_is_urlsafe_and_random() -> None:
    """Secrets are URL-safe and differ between calls."""
    a, b = tokens.new_secret(), tokens.new_secret()

    assert a != b
    assert re.fullmatch(r"[A-Za-z0-9_-]+", a) is not None
