"""Codecs turn arguments and results into bytes; Lua never looks inside.

Every payload starts with one byte naming its codec, so a worker decodes jobs
written by producers configured with another codec.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import msgpack
import orjson

from ._errors import CodecError, ConfigError


class Codec(Protocol):
    """Encodes Python values to bytes and back; `tag` is one unique byte."""

    tag: bytes

    def dumps(self, value: Any) -> bytes: ...
    def loads(self, data: bytes) -> Any: ...


class MsgpackCodec:
    """msgpack (the default): compact and fast; tuples come back as lists."""

    tag = b"m"

    def dumps(self, value: Any) -> bytes:
        return msgpack.packb(value, use_bin_type=True)  # type: ignore[no-any-return]

    def loads(self, data: bytes) -> Any:
        return msgpack.unpackb(data, raw=False, strict_map_key=False)


class JsonCodec:
    """JSON through orjson: readable in redis-cli; bytes values are not allowed."""

    tag = b"j"

    def dumps(self, value: Any) -> bytes:
        return orjson.dumps(value)

    def loads(self, data: bytes) -> Any:
        return orjson.loads(data)


_CODECS: dict[bytes, Codec] = {c.tag: c for c in (MsgpackCodec(), JsonCodec())}


def get_codec(name: str | Codec) -> Codec:
    """The codec for "msgpack" / "json", or a user codec object."""
    if not isinstance(name, str):
        _CODECS.setdefault(name.tag, name)
        return name
    codec = {"msgpack": _CODECS[b"m"], "json": _CODECS[b"j"]}.get(name)
    if codec is None:
        raise ConfigError(f"unknown codec {name!r}: use 'msgpack', 'json' or a Codec object")
    return codec


def encode(codec: Codec, value: Any) -> bytes:
    """Tagged bytes of `value`, or `CodecError` naming what could not be encoded."""
    try:
        return codec.tag + codec.dumps(value)
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"cannot encode {type(value).__name__} with {codec.tag!r}: {exc}") from exc


def decode(data: bytes) -> Any:
    """The value of tagged bytes written by any known codec."""
    if not data:
        raise CodecError("empty payload")
    codec = _CODECS.get(data[:1])
    if codec is None:
        raise CodecError(f"payload has unknown codec tag {data[:1]!r}")
    try:
        return codec.loads(data[1:])
    except Exception as exc:
        raise CodecError(f"undecodable payload: {exc}") from exc


# The payload of a call without arguments, per built-in codec: encoded once.
# (A user codec may not be deterministic, e.g. encrypting with a nonce: its
# payloads are always encoded afresh.)
_NO_ARGS: dict[bytes, bytes] = {tag: encode(c, [[], {}]) for tag, c in _CODECS.items()}


# ... and the same payloads as a set, to recognise them without decoding.
_NO_ARGS_PAYLOADS = frozenset(_NO_ARGS.values())


def decode_args(data: bytes) -> Any:
    """`decode(data)`, answered without decoding for the payload of a call
    without arguments (a fresh `[[], {}]`: the caller may change it)."""
    if data in _NO_ARGS_PAYLOADS:
        return [[], {}]
    return decode(data)


def is_builtin(codec: Codec) -> bool:
    """Whether `codec` is one of rtask's own (deterministic: equal values, equal bytes)."""
    return _CODECS.get(codec.tag) is codec and codec.tag in _NO_ARGS


def encode_args(codec: Codec, args: Sequence[Any], kwargs: dict[str, Any]) -> bytes:
    """The tagged payload of a job's arguments, `[args, kwargs]`."""
    if not args and not kwargs and is_builtin(codec):
        return _NO_ARGS[codec.tag]
    return encode(codec, [list(args), kwargs])
