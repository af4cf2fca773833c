"""Streaming multipart/form-data parsing: text fields into nested dicts (PeerTube's bracket
notation, `payload[videoFile]`), file parts straight to temp files on disk."""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import Request

from offload.http.errors import BadParams

__all__ = ["ParsedForm", "parse_multipart", "split_field_name"]

MAX_TEXT_FIELD_BYTES = 64 * 1024
MAX_PARTS = 64

_NAME_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)\Z")  # \Z: `$` allows a trailing newline


def split_field_name(name: str) -> list[str]:
    """`payload[videoFile]` → ["payload", "videoFile"]; refuses malformed brackets."""
    match = _NAME_RE.match(name)
    if not match:
        raise BadParams(name)
    keys = [match.group(1)]
    keys.extend(re.findall(r"\[([^\[\]]*)\]", match.group(2)))
    if any(k == "" for k in keys):
        raise BadParams(name)
    return keys


@dataclass
class ParsedForm:
    fields: dict[str, Any] = field(default_factory=dict)
    #: Dotted field name ("payload.videoFile") → temp file path.
    files: dict[str, Path] = field(default_factory=dict)

    def cleanup(self) -> None:
        for path in self.files.values():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


@dataclass
class _Part:
    headers: dict[bytes, bytes] = field(default_factory=dict)
    name: str = ""
    is_file: bool = False
    text: bytearray = field(default_factory=bytearray)
    handle: BinaryIO | None = None
    path: Path | None = None


def _set_nested(target: dict[str, Any], keys: list[str], value: Any) -> None:
    if isinstance(value, str) and "\x00" in value:
        raise BadParams(".".join(keys))  # no text field has a use for NUL; PostgreSQL refuses it
    node = target
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            if child is not None:
                raise BadParams(".".join(keys))
            child = node[key] = {}
        node = child
    if keys[-1] in node:
        raise BadParams(".".join(keys))  # one value per field, one file per field
    node[keys[-1]] = value


async def parse_multipart(request: Request, tmp_dir: Path) -> ParsedForm:
    """Parse a multipart body without ever holding a file part in memory.

    Files land in `tmp_dir` (same filesystem as the store, so completion can rename them into
    place). On any error every temp file already written is removed.
    """
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type == b"application/x-www-form-urlencoded":
        # What a plain form post (or PeerTube's body-parser) would accept for file-less calls.
        return await _parse_urlencoded(request)
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise BadParams("body", messages={"body": "multipart/form-data expected"})
    tmp_dir.mkdir(parents=True, exist_ok=True)
    form = ParsedForm()
    state: dict[str, Any] = {"part": None, "header_field": b"", "header_value": b"", "parts": 0}
    errors: list[BaseException] = []

    def on_part_begin() -> None:
        state["parts"] += 1
        if state["parts"] > MAX_PARTS:
            raise BadParams("body", messages={"body": "too many parts"})
        state["part"] = _Part()

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state["header_field"] += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state["header_value"] += data[start:end]

    def on_header_end() -> None:
        state["part"].headers[state["header_field"].lower()] = state["header_value"]
        state["header_field"] = b""
        state["header_value"] = b""

    def on_headers_finished() -> None:
        part: _Part = state["part"]
        _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if not name:
            raise BadParams("body", messages={"body": "part without a name"})
        part.name = name
        # A filename marks a file part; its value is never trusted for naming anything.
        if b"filename" in options:
            part.is_file = True
            fd, raw_path = tempfile.mkstemp(prefix="upload-", dir=tmp_dir)
            part.path = Path(raw_path)
            part.handle = os.fdopen(fd, "wb")

    def on_part_data(data: bytes, start: int, end: int) -> None:
        part: _Part = state["part"]
        if part.is_file:
            assert part.handle is not None
            part.handle.write(data[start:end])
        else:
            part.text += data[start:end]
            if len(part.text) > MAX_TEXT_FIELD_BYTES:
                raise BadParams(part.name)

    def on_part_end() -> None:
        part: _Part = state["part"]
        keys = split_field_name(part.name)
        if part.is_file:
            assert part.handle is not None and part.path is not None
            part.handle.close()
            part.handle = None
            if ".".join(keys) in form.files:
                part.path.unlink(missing_ok=True)
                raise BadParams(part.name)
            form.files[".".join(keys)] = part.path
        else:
            _set_nested(form.fields, keys, part.text.decode("utf-8", "replace"))
        state["part"] = None

    parser = MultipartParser(
        params[b"boundary"],
        {
            "on_part_begin": on_part_begin,
            "on_part_data": on_part_data,
            "on_part_end": on_part_end,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": on_headers_finished,
        },
    )
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        if state["part"] is not None:
            raise BadParams("body", messages={"body": "truncated multipart body"})
    except BaseException as exc:
        errors.append(exc)
        part = state.get("part")
        if isinstance(part, _Part) and part.handle is not None:
            part.handle.close()
            if part.path is not None:
                part.path.unlink(missing_ok=True)
        form.cleanup()
        if isinstance(exc, BadParams):
            raise
        if isinstance(exc, Exception):
            raise BadParams("body", messages={"body": f"malformed multipart body: {exc}"}) from exc
        raise
    return form


async def _parse_urlencoded(request: Request) -> ParsedForm:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_TEXT_FIELD_BYTES * 4:
            raise BadParams("body", messages={"body": "form too large"})
    form = ParsedForm()
    for name, value in urllib.parse.parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
        _set_nested(form.fields, split_field_name(name), value)
    return form
