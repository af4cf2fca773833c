"""Single-file torrents (BEP 3) seeded by the file's own URL (a BEP 19 web seed), made on
request: PeerTube's clients want a `torrentUrl` that answers, and the HTTP URL is the seed."""

from __future__ import annotations

import hashlib
from pathlib import Path

__all__ = ["bencode", "make_torrent"]

#: PeerTube's pieces for files of a few hundred MB; smaller files need fewer, not smaller.
PIECE_BYTES = 256 * 1024


def bencode(value: object) -> bytes:
    if isinstance(value, int):
        return b"i%de" % value
    if isinstance(value, str):
        value = value.encode()
    if isinstance(value, bytes):
        return b"%d:%s" % (len(value), value)
    if isinstance(value, list):
        return b"l" + b"".join(bencode(v) for v in value) + b"e"
    if isinstance(value, dict):
        # Keys sorted as raw strings, as the spec requires.
        items = sorted((k.encode() if isinstance(k, str) else k, v) for k, v in value.items())
        return b"d" + b"".join(bencode(k) + bencode(v) for k, v in items) + b"e"
    raise TypeError(f"cannot bencode {type(value).__name__}")


def make_torrent(path: Path, *, name: str, web_seed: str) -> bytes:
    """The torrent of the file at `path` (blocking: it reads the whole file)."""
    pieces = bytearray()
    length = 0
    with path.open("rb") as f:
        while chunk := f.read(PIECE_BYTES):
            pieces += hashlib.sha1(chunk, usedforsecurity=False).digest()
            length += len(chunk)
    info = {"name": name, "length": length, "piece length": PIECE_BYTES, "pieces": bytes(pieces)}
    return bencode({"info": info, "url-list": [web_seed], "created by": "Offload"})
