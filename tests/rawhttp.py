"""HTTP/1.1 by hand over a socket, for what httpx cannot do: send headers and only part of a
body, then read the answer the server gives before the rest arrives.

(An httpx client still sending when the server answers and closes sees a broken pipe, not the
answer.)
"""

from __future__ import annotations

import json
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

__all__ = ["RawAnswer", "assert_too_large", "chunked", "multipart_body", "send_partial"]


@dataclass
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes
    #: The server closed the connection after its answer.
    closed: bool

    def json(self) -> Any:
        return json.loads(self.body)


def multipart_body(
    parts: list[tuple[str, bytes, str | None]], boundary: str | None = None
) -> tuple[str, bytes]:
    """`(name, value, filename)` parts (filename None: a text field) → (content type, body)."""
    boundary = boundary or uuid.uuid4().hex
    body = bytearray()
    for name, value, filename in parts:
        disposition = f'form-data; name="{name}"' + (
            f'; filename="{filename}"' if filename is not None else ""
        )
        body += (
            f"--{boundary}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"
        )
    body += f"--{boundary}--\r\n".encode()
    return f"multipart/form-data; boundary={boundary}", bytes(body)


def chunked(data: bytes, size: int = 64 * 1024, *, last: bool = True) -> bytes:
    """`data` in Transfer-Encoding: chunked framing (without the final 0-chunk unless `last`)."""
    out = bytearray()
    for start in range(0, len(data), size):
        piece = data[start : start + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    if last:
        out += b"0\r\n\r\n"
    return bytes(out)


def send_partial(
    url: str,
    method: str,
    path: str,
    headers: dict[str, str],
    sent: bytes,
    *,
    timeout_s: float = 10.0,
) -> RawAnswer:
    """Send the request head and `sent` (maybe only part of what the head announces), then read
    the answer; fails if none comes within `timeout_s`."""
    parts = urlsplit(url)
    head = f"{method} {path} HTTP/1.1\r\nHost: {parts.netloc}\r\n"
    head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
    deadline = time.monotonic() + timeout_s
    with socket.create_connection(
        (parts.hostname or "127.0.0.1", parts.port or 80), timeout=timeout_s
    ) as sock:
        sock.sendall(head.encode() + sent)
        data = bytearray()
        while b"\r\n\r\n" not in data:
            data += _recv(sock, deadline)
        raw_head, _, rest = bytes(data).partition(b"\r\n\r\n")
        status_line, *lines = raw_head.decode("latin-1").split("\r\n")
        answer_headers = {
            k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)
        }
        body = bytearray(rest)
        length = int(answer_headers.get("content-length", "0"))
        while len(body) < length:
            body += _recv(sock, deadline)
        closed = _closed_after(sock, deadline)
    return RawAnswer(int(status_line.split()[1]), answer_headers, bytes(body[:length]), closed)


def _recv(sock: socket.socket, deadline: float) -> bytes:
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        chunk = sock.recv(65536)
    except TimeoutError:
        raise AssertionError("no answer from the server in time") from None
    if not chunk:
        raise AssertionError("the server closed the connection without a full answer")
    return chunk


def _closed_after(sock: socket.socket, deadline: float) -> bool:
    sock.settimeout(max(0.01, min(2.0, deadline - time.monotonic())))
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


def assert_too_large(answer: RawAnswer) -> None:
    """A 413 problem (PeerTube's `PayloadTooLargeError`) on a connection the server closed
    rather than read a refused body to its end."""
    assert 413 == answer.status, answer.body
    assert "application/problem+json" == answer.headers["content-type"]
    body = answer.json()
    assert (413, "PayloadTooLargeError") == (body["status"], body["code"])
    assert isinstance(body["detail"], str)
    assert answer.closed, "the server kept reading a body it refused"
