"""AMF0, the value encoding of RTMP commands and metadata: a small codec for the types that
RTMP peers (ffmpeg, OBS, librtmp, Flash) actually send.

Decoding is defensive: every length is checked against the buffer, nesting is bounded, and any
malformed input raises `AmfError` (never IndexError/struct.error), so a hostile peer can only
get its own connection closed.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["AmfError", "EcmaArray", "decode_all", "decode_value", "encode_value", "encode_values"]

NUMBER = 0x00
BOOLEAN = 0x01
STRING = 0x02
OBJECT = 0x03
NULL = 0x05
UNDEFINED = 0x06
REFERENCE = 0x07
ECMA_ARRAY = 0x08
OBJECT_END = 0x09
STRICT_ARRAY = 0x0A
DATE = 0x0B
LONG_STRING = 0x0C
UNSUPPORTED = 0x0D
XML_DOCUMENT = 0x0F
TYPED_OBJECT = 0x10
AVMPLUS = 0x11  # switch to AMF3: not spoken here

MAX_DEPTH = 32


class AmfError(ValueError):
    """The bytes are not valid AMF0 (or use a part of it we do not speak)."""


class EcmaArray(dict[str, Any]):
    """A dict that encodes as an AMF0 ECMA array (what `onMetaData` carries) instead of an
    object."""


def encode_value(value: Any) -> bytes:
    """One value as AMF0: None → null, bool, int/float → number, str, Mapping → object
    (`EcmaArray` → ECMA array), list/tuple → strict array."""
    if value is None:
        return bytes([NULL])
    if isinstance(value, bool):
        return bytes([BOOLEAN, 1 if value else 0])
    if isinstance(value, (int, float)):
        return bytes([NUMBER]) + struct.pack(">d", float(value))
    if isinstance(value, str):
        raw = value.encode("utf-8")
        if len(raw) > 0xFFFF:
            return bytes([LONG_STRING]) + struct.pack(">I", len(raw)) + raw
        return bytes([STRING]) + struct.pack(">H", len(raw)) + raw
    if isinstance(value, EcmaArray):
        return bytes([ECMA_ARRAY]) + struct.pack(">I", len(value)) + _encode_properties(value)
    if isinstance(value, Mapping):
        return bytes([OBJECT]) + _encode_properties(value)
    if isinstance(value, Sequence):
        items = b"".join(encode_value(item) for item in value)
        return bytes([STRICT_ARRAY]) + struct.pack(">I", len(value)) + items
    raise TypeError(f"cannot encode {type(value).__name__} as AMF0")


def encode_values(*values: Any) -> bytes:
    """Several values back to back, as a command or data message body is laid out."""
    return b"".join(encode_value(value) for value in values)


def _encode_properties(properties: Mapping[str, Any]) -> bytes:
    parts = []
    for key, item in properties.items():
        raw = str(key).encode("utf-8")
        parts.append(struct.pack(">H", len(raw)) + raw + encode_value(item))
    return b"".join(parts) + b"\x00\x00" + bytes([OBJECT_END])


def decode_all(data: bytes) -> list[Any]:
    """Every value in `data`, in order (a command: name, transaction id, arguments...)."""
    values = []
    offset = 0
    while offset < len(data):
        value, offset = decode_value(data, offset)
        values.append(value)
    return values


def decode_value(data: bytes, offset: int = 0, depth: int = 0) -> tuple[Any, int]:
    """The value starting at `offset` and the offset just past it."""
    if depth > MAX_DEPTH:
        raise AmfError("AMF0 values nested too deeply")
    marker = _take(data, offset, 1)[0]
    offset += 1
    if marker == NUMBER:
        return struct.unpack(">d", _take(data, offset, 8))[0], offset + 8
    if marker == BOOLEAN:
        return _take(data, offset, 1)[0] != 0, offset + 1
    if marker == STRING:
        return _string(data, offset, 2)
    if marker == LONG_STRING or marker == XML_DOCUMENT:
        return _string(data, offset, 4)
    if marker in (NULL, UNDEFINED, UNSUPPORTED):
        return None, offset
    if marker == OBJECT:
        return _properties(data, offset, dict(), depth)
    if marker == TYPED_OBJECT:
        _, offset = _string(data, offset, 2)
        return _properties(data, offset, dict(), depth)
    if marker == ECMA_ARRAY:
        _take(data, offset, 4)  # the count is a hint only; the end marker is authoritative
        return _properties(data, offset + 4, EcmaArray(), depth)
    if marker == STRICT_ARRAY:
        (count,) = struct.unpack(">I", _take(data, offset, 4))
        offset += 4
        if count > len(data) - offset:
            raise AmfError("AMF0 strict array longer than its message")
        items = []
        for _ in range(count):
            item, offset = decode_value(data, offset, depth + 1)
            items.append(item)
        return items, offset
    if marker == DATE:
        (millis,) = struct.unpack(">d", _take(data, offset, 8))
        _take(data, offset + 8, 2)  # time zone, unused by the format's own definition
        return millis, offset + 10
    if marker == REFERENCE:
        _take(data, offset, 2)
        return None, offset + 2
    raise AmfError(f"unsupported AMF0 marker 0x{marker:02x}")


def _take(data: bytes, offset: int, size: int) -> bytes:
    if offset + size > len(data):
        raise AmfError("AMF0 value runs past the end of its message")
    return data[offset : offset + size]


def _string(data: bytes, offset: int, length_size: int) -> tuple[str, int]:
    fmt = ">H" if length_size == 2 else ">I"
    (length,) = struct.unpack(fmt, _take(data, offset, length_size))
    offset += length_size
    raw = _take(data, offset, length)
    return raw.decode("utf-8", errors="replace"), offset + length


def _properties(
    data: bytes, offset: int, into: dict[str, Any], depth: int
) -> tuple[dict[str, Any], int]:
    while True:
        if offset >= len(data) and isinstance(into, EcmaArray):
            return into, offset  # some encoders end an ECMA array without the end marker
        key, offset = _string(data, offset, 2)
        if not key and offset < len(data) and data[offset] == OBJECT_END:
            return into, offset + 1
        into[key], offset = decode_value(data, offset, depth + 1)
