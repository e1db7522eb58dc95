"""
Message codecs: how a client turns a message into payload bytes and back.

The server never decodes a payload; it forwards the bytes together with the
codec's name, and each subscriber decodes with the codec of that name.  JSON
is the default because it is safe to decode from anybody (Pyro 3 unpickled
whatever arrived, which lets any publisher run code in every subscriber).
"raw" passes bytes through untouched, for applications with their own
format.
"""

import json
from typing import Any, Callable, NamedTuple


class Codec(NamedTuple):
    """
    A named pair of functions between messages and payload bytes.
    """

    name: str
    encode: Callable[[Any], bytes]
    decode: Callable[[bytes], Any]


def _encode_json(msg: Any) -> bytes:
    try:
        return json.dumps(msg, separators=(",", ":"), ensure_ascii=False).encode()
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"cannot publish a message of type {type(msg).__name__} with the "
            f"json codec ({e}); convert it to JSON types, or choose another "
            f"codec when connecting (codec='raw' publishes bytes as they are)"
        ) from e


def _encode_raw(msg: Any) -> bytes:
    if not isinstance(msg, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"the raw codec publishes bytes, not {type(msg).__name__}; "
            f"encode the message first, or use the json codec"
        )
    return bytes(msg)


_decode_json_text = json.JSONDecoder().decode


def _decode_json(payload: bytes) -> Any:
    # The JSON codec always writes UTF-8: skip json.loads's guessing.
    return _decode_json_text(payload.decode())


JSON = Codec("json", _encode_json, _decode_json)
RAW = Codec("raw", _encode_raw, bytes)

CODECS: dict[str, Codec] = {codec.name: codec for codec in (JSON, RAW)}


def codec_named(name: str) -> Codec:
    """
    Look up a codec by its name.

    @raise ValueError: if eventd knows no codec of that name.
    """
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(
            f"unknown codec {name!r}; known codecs: {', '.join(sorted(CODECS))}"
        ) from None
