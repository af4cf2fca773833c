"""Streaming multipart/form-data parsing: text fields into nested dicts (PeerTube's bracket
notation, `payload[videoFile]`), file parts straight to temp files on disk, under caps.

A caller that must authenticate an upload before keeping it passes a `Gate`: it gets the text
fields sent before the first file part (PeerTube's runner sends every text field, tokens
first, before its files) and answers with the limits the rest of the body must keep, or
raises to refuse it. Until the gate passed, no file byte reaches the disk and at most
`MAX_BYTES_BEFORE_FILES` of the body are read.
"""

from __future__ import annotations

import contextlib
import copy
import os
import re
import tempfile
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.requests import ClientDisconnect, Request

from offload.http.errors import BadParams, BodyTooLarge

__all__ = ["Gate", "ParsedForm", "UploadLimits", "parse_multipart", "split_field_name"]

#: One text field (a field's validation: 400 past it).
MAX_TEXT_FIELD_BYTES = 64 * 1024
#: All text fields of one body together: they are held in memory (413 past it).
MAX_TEXT_BYTES = 256 * 1024
#: What a gated body may send before its first file (text fields, part headers); PeerTube's
#: runner sends a few hundred bytes.
MAX_BYTES_BEFORE_FILES = 1024 * 1024
MAX_PARTS = 64
#: The parser is fed at most this much at a time: file bytes read while the gate is due are
#: held in memory, so this bounds them.
_SLICE_BYTES = 64 * 1024

_NAME_RE = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)\Z")  # \Z: `$` allows a trailing newline


@dataclass(frozen=True, slots=True)
class UploadLimits:
    """Caps on one body, in bytes: 413 past either."""

    body_bytes: int
    #: Each file part.
    file_bytes: int


#: `gate(fields, pending_file)`: decide on an upload from the text fields read so far, before
#: the file part `pending_file` (its dotted name), or at the end of a body without files
#: (None). Returns the limits for the rest of the body; raises to refuse the upload.
Gate = Callable[[dict[str, Any], str | None], Awaitable[UploadLimits]]


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


async def parse_multipart(
    request: Request,
    tmp_dir: Path,
    *,
    limits: UploadLimits | None = None,
    gate: Gate | None = None,
) -> ParsedForm:
    """Parse a multipart (or url-encoded) body without ever holding a file part in memory.

    Files land in `tmp_dir` (same filesystem as the store, so completion can rename them into
    place). `limits` hold from the first byte (a declared Content-Length above them is refused
    unread); the ones `gate` returns replace them. On any error every temp file already
    written is removed.
    """
    content_type, params = parse_options_header(request.headers.get("content-type", ""))
    if content_type == b"application/x-www-form-urlencoded":
        # What a plain form post (or PeerTube's body-parser) would accept for file-less calls.
        return await _parse_urlencoded(request, gate)
    if content_type != b"multipart/form-data" or b"boundary" not in params:
        raise BadParams("body", messages={"body": "multipart/form-data expected"})
    reader = _MultipartReader(params[b"boundary"], tmp_dir, limits, gate, _declared_length(request))
    try:
        await reader.read(request)
    except BaseException:
        reader.discard()
        raise
    return reader.form


@dataclass
class _Part:
    name: str = ""
    #: Dotted name of a file part, None for a text field.
    file_key: str | None = None
    headers: dict[bytes, bytes] = field(default_factory=dict)
    text: bytearray = field(default_factory=bytearray)
    #: File bytes read before the gate passed (nothing is written before).
    held: bytearray = field(default_factory=bytearray)
    size: int = 0
    ended: bool = False
    handle: BinaryIO | None = None
    path: Path | None = None


class _MultipartReader:
    """One body's parse: the parser's callbacks, the caps and the gate."""

    def __init__(
        self,
        boundary: bytes,
        tmp_dir: Path,
        limits: UploadLimits | None,
        gate: Gate | None,
        declared: int | None,
    ) -> None:
        self.tmp_dir = tmp_dir
        self.limits = limits
        self.gate = gate
        self.declared = declared
        self.form = ParsedForm()
        self.part: _Part | None = None
        self.parts = 0
        self.text_bytes = 0
        self.received = 0
        self.file_keys: set[str] = set()
        #: Ended file parts read before the gate passed, to be written once it has.
        self.held: list[_Part] = []
        self.gate_due = False
        self.gate_file: str | None = None
        self.gate_fields: dict[str, Any] = {}
        self.gated = gate is None
        self.ended = False
        self.header_field = b""
        self.header_value = b""
        self.parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self.on_part_begin,
                "on_part_data": self.on_part_data,
                "on_part_end": self.on_part_end,
                "on_header_field": self.on_header_field,
                "on_header_value": self.on_header_value,
                "on_header_end": self.on_header_end,
                "on_headers_finished": self.on_headers_finished,
                "on_end": self.on_end,
            },
        )

    async def read(self, request: Request) -> None:
        self.check_declared()
        async for chunk in _chunks(request):
            for start in range(0, len(chunk), _SLICE_BYTES):
                await self.feed(chunk[start : start + _SLICE_BYTES])
                if self.ended:
                    return  # an epilogue after the closing boundary means nothing
        with _as_bad_params("malformed multipart body"):
            self.parser.finalize()
        if self.part is not None:
            raise BadParams("body", messages={"body": "truncated multipart body"})
        if not self.gated:
            await self.pass_gate(self.form.fields, None)

    async def feed(self, data: bytes) -> None:
        self.received += len(data)
        if not self.gated and self.received > MAX_BYTES_BEFORE_FILES:
            raise BodyTooLarge(
                f"request entity too large: at most {MAX_BYTES_BEFORE_FILES} bytes may come before the first file"
            )
        if self.limits is not None and self.received > self.limits.body_bytes:
            raise BodyTooLarge(_too_large_body(self.limits))
        with _as_bad_params("malformed multipart body"):
            self.parser.write(data)
        if self.gate_due and not self.gated:
            await self.pass_gate(self.gate_fields, self.gate_file)

    async def pass_gate(self, fields: dict[str, Any], pending_file: str | None) -> None:
        assert self.gate is not None
        self.limits = await self.gate(fields, pending_file)
        self.gated = True
        self.check_declared()
        with _as_bad_params("the upload could not be stored"):
            self.write_held()

    def check_declared(self) -> None:
        if (
            self.limits is not None
            and self.declared is not None
            and self.declared > self.limits.body_bytes
        ):
            raise BodyTooLarge(_too_large_body(self.limits))

    # ---- parser callbacks -------------------------------------------------------------------

    def on_part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise BadParams("body", messages={"body": "too many parts"})
        self.part = _Part()

    def on_header_field(self, data: bytes, start: int, end: int) -> None:
        self.header_field += data[start:end]

    def on_header_value(self, data: bytes, start: int, end: int) -> None:
        self.header_value += data[start:end]

    def on_header_end(self) -> None:
        assert self.part is not None
        self.part.headers[self.header_field.lower()] = self.header_value
        self.header_field = b""
        self.header_value = b""

    def on_headers_finished(self) -> None:
        part = self.part
        assert part is not None
        _, options = parse_options_header(part.headers.get(b"content-disposition", b""))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if not name:
            raise BadParams("body", messages={"body": "part without a name"})
        part.name = name
        # A filename marks a file part; its value is never trusted for naming anything.
        if b"filename" not in options:
            return
        key = ".".join(split_field_name(name))
        if key in self.file_keys:
            raise BadParams(name)  # one file per field
        self.file_keys.add(key)
        part.file_key = key
        if self.gated:
            self.open_file(part)
        elif not self.gate_due:
            # What came before this file: later fields of the same slice are not the gate's.
            self.gate_due, self.gate_file, self.gate_fields = (
                True,
                key,
                copy.deepcopy(self.form.fields),
            )

    def on_part_data(self, data: bytes, start: int, end: int) -> None:
        part = self.part
        assert part is not None
        if part.file_key is None:
            part.text += data[start:end]
            self.text_bytes += end - start
            if len(part.text) > MAX_TEXT_FIELD_BYTES:
                raise BadParams(part.name)
            if self.text_bytes > MAX_TEXT_BYTES:
                raise BodyTooLarge(
                    f"request entity too large: text fields may take at most {MAX_TEXT_BYTES} bytes"
                )
            return
        part.size += end - start
        if self.limits is not None and part.size > self.limits.file_bytes:
            raise BodyTooLarge(
                f"request entity too large: a file may take at most {self.limits.file_bytes} bytes here"
            )
        if part.handle is not None:
            part.handle.write(data[start:end])
        else:
            part.held += data[start:end]

    def on_part_end(self) -> None:
        part = self.part
        assert part is not None
        part.ended = True
        self.part = None
        if part.file_key is None:
            _set_nested(
                self.form.fields, split_field_name(part.name), part.text.decode("utf-8", "replace")
            )
        elif part.handle is not None:
            self.close_file(part)
        else:
            self.held.append(part)

    def on_end(self) -> None:
        self.ended = True
        if not self.gated and not self.gate_due:
            self.gate_due, self.gate_fields = True, self.form.fields

    # ---- files ------------------------------------------------------------------------------

    def open_file(self, part: _Part) -> None:
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        fd, raw_path = tempfile.mkstemp(prefix="upload-", dir=self.tmp_dir)
        part.path = Path(raw_path)
        part.handle = os.fdopen(fd, "wb")
        if part.held:
            part.handle.write(part.held)
            part.held = bytearray()

    def close_file(self, part: _Part) -> None:
        assert part.handle is not None and part.path is not None and part.file_key is not None
        part.handle.close()
        part.handle = None
        self.form.files[part.file_key] = part.path

    def write_held(self) -> None:
        """The gate passed: write the file parts read while it was due."""
        for part in self.held:
            self.open_file(part)
            self.close_file(part)
        self.held = []
        if self.part is not None and self.part.file_key is not None:
            self.open_file(self.part)

    def discard(self) -> None:
        part = self.part
        if part is not None and part.handle is not None:
            part.handle.close()
            if part.path is not None:
                part.path.unlink(missing_ok=True)
        self.form.cleanup()


async def _chunks(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except ClientDisconnect as exc:
        raise BadParams("body", messages={"body": "the client went away"}) from exc


@contextlib.contextmanager
def _as_bad_params(what: str) -> Iterator[None]:
    """Failures of the parser (or of the disk under it, as before) are answered 400; our own
    refusals pass as they are."""
    try:
        yield
    except (BadParams, BodyTooLarge):
        raise
    except Exception as exc:
        raise BadParams("body", messages={"body": f"{what}: {exc}"}) from exc


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


def _declared_length(request: Request) -> int | None:
    raw = request.headers.get("content-length")
    return int(raw) if raw is not None and raw.isdigit() else None


def _too_large_body(limits: UploadLimits) -> str:
    return f"request entity too large: this upload may take at most {limits.body_bytes} bytes"


async def _parse_urlencoded(request: Request, gate: Gate | None) -> ParsedForm:
    declared = _declared_length(request)
    if declared is not None and declared > MAX_TEXT_BYTES:
        raise BodyTooLarge(
            f"request entity too large: a form may take at most {MAX_TEXT_BYTES} bytes"
        )
    body = bytearray()
    async for chunk in _chunks(request):
        body += chunk
        if len(body) > MAX_TEXT_BYTES:
            raise BodyTooLarge(
                f"request entity too large: a form may take at most {MAX_TEXT_BYTES} bytes"
            )
    form = ParsedForm()
    for name, value in urllib.parse.parse_qsl(
        body.decode("utf-8", "replace"), keep_blank_values=True
    ):
        _set_nested(form.fields, split_field_name(name), value)
    if gate is not None:
        await gate(form.fields, None)
    return form
