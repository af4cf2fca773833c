"""Runners and registration tokens as the core sees them, and field rules of the protocol."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime

__all__ = [
    "LIVE_CHUNK_RE",
    "LIVE_PLAYLIST_RE",
    "VERSION_RE",
    "RegistrationToken",
    "Runner",
    "is_uuid_v4",
]

# `\Z`, not `$`: `$` also matches before a trailing newline ("1.0.0\n", "0.ts\n").
#: `X.Y.Z` or `X.Y.Z-(alpha|beta|rc).N`, the runner version format PeerTube accepts.
VERSION_RE = re.compile(r"^[0-9]+\.[0-9]+\.[0-9]+(-(alpha|beta|rc)\.[0-9]+)?\Z")
LIVE_CHUNK_RE = re.compile(r"^[a-z0-9-]+\.ts\Z")
LIVE_PLAYLIST_RE = re.compile(r"^[a-z0-9-]+\.m3u8\Z")


def is_uuid_v4(value: str) -> bool:
    """PeerTube's `isUUID(v, 4)`: canonical hyphenated form, version nibble 4, RFC variant."""
    if len(value) != 36:
        return False
    try:
        parsed = uuid.UUID(value)
    except ValueError:
        return False
    return parsed.version == 4 and str(parsed) == value.lower()


@dataclass(frozen=True, slots=True)
class Runner:
    id: int
    name: str
    description: str | None
    version: str | None
    ip: str | None
    last_contact: datetime
    registration_token_id: int
    token_digest: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RegistrationToken:
    id: int
    token: str
    created_at: datetime
    updated_at: datetime
    registered_runners_count: int = 0
