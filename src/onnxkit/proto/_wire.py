"""The protobuf wire format, written against the encoding itself (no protobuf library).

Decoding walks a buffer (bytes, mmap, memoryview) between two offsets and fills
message objects declared in :mod:`onnxkit.proto.messages`.  Fields of kind
``VIEW`` (``TensorProto.raw_data``) stay ``memoryview`` slices of the buffer: no
copy.  Every problem raises :class:`onnxkit.errors.FormatError` with the byte
offset, the message and the field being read.

Decisions (where protobuf leaves a choice):

* A known field arriving with a wire type it cannot have is a FormatError
  (protobuf would keep it as an unknown field; for ONNX files it always means
  corruption).  Repeated numeric fields are accepted packed and unpacked.
* Unknown field numbers are kept as raw bytes and written back on save.
* Groups (wire types 3 and 4, deprecated) are refused.
* Nesting deeper than :data:`MAX_DEPTH` messages is refused (protobuf's limit is 100).
* Strings are UTF-8; bytes that are not valid UTF-8 survive a round trip through
  the ``surrogateescape`` error handler instead of failing the whole file.

Encoding appends chunks (``bytes`` or the original ``memoryview`` slices) to a
list, so saving a model streams tensor bytes straight from the source file and
``to_bytes`` copies them exactly once.
"""

from __future__ import annotations

import struct
from typing import Any

from ..errors import FormatError

MAX_DEPTH = 100

# Field kinds.
INT64, INT32, UINT64, ENUM, FLOAT, DOUBLE, STRING, BYTES, VIEW, MESSAGE = range(10)
_VARINT_KINDS = (INT64, INT32, UINT64, ENUM)
_WIRE_OF_KIND = {INT64: 0, INT32: 0, UINT64: 0, ENUM: 0, FLOAT: 5, DOUBLE: 1,
                 STRING: 2, BYTES: 2, VIEW: 2, MESSAGE: 2}
_KIND_NAMES = {INT64: "int64", INT32: "int32", UINT64: "uint64", ENUM: "enum", FLOAT: "float",
               DOUBLE: "double", STRING: "string", BYTES: "bytes", VIEW: "bytes",
               MESSAGE: "message"}

_U64 = (1 << 64) - 1
_unpack_f = struct.Struct("<f").unpack_from
_unpack_d = struct.Struct("<d").unpack_from
_pack_f = struct.Struct("<f").pack
_pack_d = struct.Struct("<d").pack


class _Ctx:
    """What the decoder needs to name a place in an error."""

    __slots__ = ("msg", "field")

    def __init__(self) -> None:
        self.msg = None
        self.field = None


def _err(reason: str, offset: int, msgname: str | None, field: Any = None) -> FormatError:
    return FormatError(reason, offset=offset, message=msgname,
                       field=None if field is None else str(field))


def read_varint(buf, pos: int, end: int, msgname: str | None = None, field: Any = None):
    """Decode one varint at ``pos``; return ``(value, new_pos)`` (value unsigned, 64-bit)."""
    result = 0
    shift = 0
    start = pos
    while True:
        if pos >= end:
            raise _err("truncated varint", start, msgname, field)
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result & _U64, pos
        shift += 7
        if shift >= 70:
            raise _err("varint longer than 10 bytes", start, msgname, field)


def _signed64(v: int) -> int:
    return v - (1 << 64) if v >= (1 << 63) else v


def _signed32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v >= (1 << 31) else v


def _convert_varint(kind: int, v: int) -> int:
    if kind == INT64:
        return v - (1 << 64) if v >= (1 << 63) else v
    if kind == UINT64:
        return v
    return _signed32(v)


def _decode_str(buf, a: int, b: int) -> str:
    return bytes(buf[a:b]).decode("utf-8", "surrogateescape")


def decode_message(cls, buf, pos: int, end: int, depth: int = 0):
    """Decode the fields in ``buf[pos:end]`` into a new ``cls`` instance."""
    if depth > MAX_DEPTH:
        raise _err(f"messages nested deeper than {MAX_DEPTH} levels", pos, cls.__name__)
    msg = cls()
    table = cls._by_number
    name = cls.__name__
    while pos < end:
        tag_pos = pos
        b = buf[pos]
        if b < 0x80:
            tag = b
            pos += 1
        else:
            tag, pos = read_varint(buf, pos, end, name)
        fnum = tag >> 3
        wt = tag & 7
        if fnum == 0:
            raise _err("field number 0 is invalid", tag_pos, name)
        spec = table.get(fnum)
        if spec is None:
            pos = _skip(buf, pos, end, wt, tag_pos, name, fnum)
            unk = msg._unknown
            if unk is None:
                msg._unknown = unk = []
            unk.append(bytes(buf[tag_pos:pos]))
            continue
        attr, kind, repeated, sub = spec
        if wt == 2:
            # length-delimited: string, bytes, message, or a packed repeated number
            b = buf[pos] if pos < end else 0x80
            if b < 0x80 and pos < end:
                n = b
                pos += 1
            else:
                n, pos = read_varint(buf, pos, end, name, attr)
            stop = pos + n
            if stop > end:
                raise _err(f"length {n} runs past the end of the enclosing data "
                           f"({end - pos} bytes left)", tag_pos, name, attr)
            if kind == STRING:
                val = _decode_str(buf, pos, stop)
            elif kind == MESSAGE:
                val = decode_message(sub, buf, pos, stop, depth + 1)
                if not repeated:
                    old = getattr(msg, attr)
                    if old is not None:
                        merge_message(old, val)
                        pos = stop
                        continue
            elif kind == BYTES:
                val = bytes(buf[pos:stop])
            elif kind == VIEW:
                val = memoryview(buf)[pos:stop] if not isinstance(buf, memoryview) else buf[pos:stop]
            elif repeated:
                getattr(msg, attr).extend(_decode_packed(buf, pos, stop, kind, name, attr))
                pos = stop
                continue
            else:
                raise _err(f"wire type 2 (length-delimited) for {_KIND_NAMES[kind]} field",
                           tag_pos, name, attr)
            pos = stop
        elif wt == 0:
            if kind not in _VARINT_KINDS:
                raise _err(f"wire type 0 (varint) for {_KIND_NAMES[kind]} field", tag_pos, name, attr)
            b = buf[pos] if pos < end else 0x80
            if b < 0x80 and pos < end:
                val = b
                pos += 1
            else:
                val, pos = read_varint(buf, pos, end, name, attr)
                val = _convert_varint(kind, val)
        elif wt == 5:
            if kind != FLOAT:
                raise _err(f"wire type 5 (32-bit) for {_KIND_NAMES[kind]} field", tag_pos, name, attr)
            if pos + 4 > end:
                raise _err("truncated 32-bit value", tag_pos, name, attr)
            val = _unpack_f(buf, pos)[0]
            pos += 4
        elif wt == 1:
            if kind != DOUBLE:
                raise _err(f"wire type 1 (64-bit) for {_KIND_NAMES[kind]} field", tag_pos, name, attr)
            if pos + 8 > end:
                raise _err("truncated 64-bit value", tag_pos, name, attr)
            val = _unpack_d(buf, pos)[0]
            pos += 8
        else:
            raise _err(f"invalid or unsupported wire type {wt}", tag_pos, name, attr)
        if repeated:
            getattr(msg, attr).append(val)
        else:
            setattr(msg, attr, val)
            if cls._oneof_of and attr in cls._oneof_of:
                for other in cls._oneof_of[attr]:
                    setattr(msg, other, None)
    if pos != end:
        raise _err("field runs past the end of its message", end, name)
    return msg


def _decode_packed(buf, pos: int, stop: int, kind: int, name: str, attr: str) -> list:
    n = stop - pos
    if kind == FLOAT:
        if n % 4:
            raise _err(f"packed float data of {n} bytes is not a multiple of 4", pos, name, attr)
        return list(struct.unpack_from(f"<{n // 4}f", buf, pos))
    if kind == DOUBLE:
        if n % 8:
            raise _err(f"packed double data of {n} bytes is not a multiple of 8", pos, name, attr)
        return list(struct.unpack_from(f"<{n // 8}d", buf, pos))
    out = []
    append = out.append
    while pos < stop:
        b = buf[pos]
        if b < 0x80:
            append(b)
            pos += 1
        else:
            v, pos = read_varint(buf, pos, stop, name, attr)
            append(_convert_varint(kind, v))
    return out


def _skip(buf, pos: int, end: int, wt: int, tag_pos: int, name: str, fnum: int) -> int:
    if wt == 0:
        return read_varint(buf, pos, end, name, fnum)[1]
    if wt == 1:
        pos += 8
    elif wt == 5:
        pos += 4
    elif wt == 2:
        n, pos = read_varint(buf, pos, end, name, fnum)
        pos += n
    else:
        raise _err(f"invalid or unsupported wire type {wt}", tag_pos, name, fnum)
    if pos > end:
        raise _err("unknown field runs past the end of its message", tag_pos, name, fnum)
    return pos


def merge_message(dst, src) -> None:
    """Protobuf merge semantics: scalars overwrite, repeated fields append,
    singular sub-messages merge recursively."""
    for attr, kind, repeated, _ in dst._by_number.values():
        v = getattr(src, attr)
        if repeated:
            if v:
                getattr(dst, attr).extend(v)
        elif v is not None:
            old = getattr(dst, attr)
            if kind == MESSAGE and old is not None:
                merge_message(old, v)
            else:
                setattr(dst, attr, v)
    if src._unknown:
        dst._unknown = (dst._unknown or []) + src._unknown


# ---------------------------------------------------------------- encoding

_SMALL_VARINTS = [bytes([i]) for i in range(128)]


def encode_varint(v: int) -> bytes:
    if v < 0:
        v &= _U64
    if v < 128:
        return _SMALL_VARINTS[v]
    out = bytearray()
    while v >= 0x80:
        out.append((v & 0x7F) | 0x80)
        v >>= 7
    out.append(v)
    return bytes(out)


def _tag(fnum: int, wt: int) -> bytes:
    return encode_varint((fnum << 3) | wt)


def encode_message(msg, out: list) -> int:
    """Append the encoding of ``msg`` to ``out`` (a list of chunks); return its size."""
    size = 0
    for attr, kind, repeated, packed, tag, ptag in msg._encode_plan:
        v = getattr(msg, attr)
        if repeated:
            if not v:
                continue
            if kind == MESSAGE:
                for item in v:
                    idx = len(out)
                    out.append(b"")
                    n = encode_message(item, out)
                    head = tag + encode_varint(n)
                    out[idx] = head
                    size += len(head) + n
            elif kind in (STRING, BYTES, VIEW):
                parts = []
                for item in v:
                    data = item.encode("utf-8", "surrogateescape") if kind == STRING else item
                    parts.append(tag)
                    parts.append(encode_varint(len(data)))
                    parts.append(data)
                chunk = b"".join(parts)
                out.append(chunk)
                size += len(chunk)
            elif packed:
                body = _encode_packed(kind, v)
                chunk = ptag + encode_varint(len(body)) + body
                out.append(chunk)
                size += len(chunk)
            else:
                chunk = b"".join(tag + _encode_scalar(kind, item) for item in v)
                out.append(chunk)
                size += len(chunk)
            continue
        if v is None:
            continue
        if kind == MESSAGE:
            idx = len(out)
            out.append(b"")
            n = encode_message(v, out)
            head = tag + encode_varint(n)
            out[idx] = head
            size += len(head) + n
        elif kind == VIEW:
            head = tag + encode_varint(len(v))
            out.append(head)
            out.append(v)
            size += len(head) + len(v)
        elif kind in (STRING, BYTES):
            data = v.encode("utf-8", "surrogateescape") if kind == STRING else v
            chunk = tag + encode_varint(len(data)) + bytes(data)
            out.append(chunk)
            size += len(chunk)
        else:
            chunk = tag + _encode_scalar(kind, v)
            out.append(chunk)
            size += len(chunk)
    if msg._unknown:
        for raw in msg._unknown:
            out.append(raw)
            size += len(raw)
    return size


def _encode_scalar(kind: int, v) -> bytes:
    if kind == FLOAT:
        return _pack_f(v)
    if kind == DOUBLE:
        return _pack_d(v)
    return encode_varint(int(v))


def _encode_packed(kind: int, values) -> bytes:
    if kind == FLOAT:
        return struct.pack(f"<{len(values)}f", *values)
    if kind == DOUBLE:
        return struct.pack(f"<{len(values)}d", *values)
    return b"".join(encode_varint(int(x)) for x in values)


def wire_type(kind: int) -> int:
    return _WIRE_OF_KIND[kind]
