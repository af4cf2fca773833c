"""Token formats of PeerTube's protocol, hashing for storage, constant-time comparison."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid

__all__ = [
    "JOB_TOKEN_PREFIX",
    "REGISTRATION_TOKEN_PREFIX",
    "RUNNER_TOKEN_PREFIX",
    "digest",
    "digests_match",
    "new_job_token",
    "new_registration_token",
    "new_runner_token",
    "new_secret",
]

RUNNER_TOKEN_PREFIX = "ptrt-"
JOB_TOKEN_PREFIX = "ptrjt-"
REGISTRATION_TOKEN_PREFIX = "ptrrt-"


def _uuid4_token(prefix: str) -> str:
    # uuid4 draws from os.urandom: 122 random bits, PeerTube's own format on the wire.
    return prefix + str(uuid.uuid4())


def new_runner_token() -> str:
    return _uuid4_token(RUNNER_TOKEN_PREFIX)


def new_job_token() -> str:
    return _uuid4_token(JOB_TOKEN_PREFIX)


def new_registration_token() -> str:
    return _uuid4_token(REGISTRATION_TOKEN_PREFIX)


def new_secret(nbytes: int = 32) -> str:
    """A random URL-safe secret (OAuth tokens, session keys)."""
    return secrets.token_urlsafe(nbytes)


def digest(token: str) -> str:
    """The SHA-256 hex digest under which a token is stored; the token itself never is."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def digests_match(token: str, stored_digest: str | None) -> bool:
    """Compare a presented token with a stored digest in constant time."""
    if stored_digest is None:
        return False
    return hmac.compare_digest(digest(token), stored_digest)
