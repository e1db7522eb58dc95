"""
AMP argument types of eventd's commands, beyond AMP's own.

One AMP value holds at most 65,535 bytes.  A longer byte string (a big
message, a big batch of events) is split over several keys: C{payload},
C{payload.2}, C{payload.3} and so on, each but the last holding exactly
65,535 bytes; see L{ChunkedBytes}.
"""

import json
from typing import Iterator, Sequence

from twisted.protocols import amp

from eventd.errors import BadArguments, LimitExceeded
from eventd.wire.records import (
    EmittedRecord,
    WireEvent,
    decode_emitted,
    decode_events,
    decode_gaps,
    encode_emitted,
    encode_event,
    encode_gaps,
)

MAX_VALUE_BYTES = amp.MAX_VALUE_LENGTH
"""The most bytes one AMP value holds."""


def _identifier(name: bytes) -> str:
    """
    The Python name of one of our arguments from its wire name.  AMP makes
    keyword arguments of wire names by its own (private) rule; eventd's
    argument names are plain ASCII identifiers, which that rule leaves as
    they are.
    """
    return name.decode("ascii")


class ChunkedBytes(amp.Argument):
    """
    A byte string of any length, split over as many AMP values as it needs:
    C{name}, C{name.2}, C{name.3}, ...  An empty string is sent as one empty
    C{name} value.
    """

    def toBox(self, name, strings, objects, proto):
        data = self.toString(objects.pop(_identifier(name)))
        strings.update(chunked(name, data))

    def fromBox(self, name, strings, objects, proto):
        chunks = [strings.pop(name)]
        number = 1
        while (key := chunk_key(name, number)) in strings:
            chunks.append(strings.pop(key))
            number += 1
        objects[_identifier(name)] = self.fromString(b"".join(chunks))

    def toString(self, inObject: bytes) -> bytes:
        return bytes(inObject)

    def fromString(self, inString: bytes) -> bytes:
        return inString


def chunk_key(name: bytes, number: int) -> bytes:
    """
    The key of the C{number}th (from 0) chunk of a L{ChunkedBytes} value.
    """
    return name if number == 0 else b"%s.%d" % (name, number + 1)


def chunked(name: bytes, data: bytes) -> Iterator[tuple[bytes, bytes]]:
    """
    The keys and values that carry C{data} under C{name}: at least one, each
    value at most L{MAX_VALUE_BYTES} long.
    """
    for number, start in enumerate(range(0, max(len(data), 1), MAX_VALUE_BYTES)):
        yield chunk_key(name, number), data[start : start + MAX_VALUE_BYTES]


NAMES_PER_CALL = 1000
"""The most subjects or patterns one L{Names} value holds: what a client
names in one call."""


class Names(amp.Argument):
    """
    Subjects or patterns: AMP's C{ListOf(Unicode())} on the wire (each a
    2-byte length and UTF-8), at most L{NAMES_PER_CALL} of them.  Decoding
    stops at once past that many, so a value of 32,767 empty names costs
    no more than one of a thousand (AMP's own decoder took 67 ms on it).
    """

    def toString(self, inObject: Sequence[str]) -> bytes:
        parts = []
        for name in inObject:
            encoded = name.encode("utf-8")
            parts.append(len(encoded).to_bytes(2, "big") + encoded)
        return b"".join(parts)

    def fromString(self, inString: bytes) -> list[str]:
        names: list[str] = []
        view = memoryview(inString)
        position, end = 0, len(inString)
        while position + 2 <= end:
            if len(names) == NAMES_PER_CALL:
                raise LimitExceeded(
                    f"a list of subjects or patterns holds at most {NAMES_PER_CALL} "
                    f"(the most --max-publish-subjects and --max-call-names allow)"
                )
            length = (inString[position] << 8) | inString[position + 1]
            start, position = position + 2, position + 2 + length
            if position > end:
                raise BadArguments("a name runs past the end of its list")
            names.append(str(view[start:position], "utf-8"))
        if position != end:
            raise BadArguments("a list of names ends in the middle of a length")
        return names


def name_batches(names: Sequence[str], most: int = NAMES_PER_CALL) -> Iterator[list[str]]:
    """
    Split subjects or patterns into lists of at most C{most} that each fit
    one AMP value as a C{ListOf(Unicode())} argument (each item costs a
    2-byte length and its UTF-8 bytes), so a client can (re)subscribe to
    any number of them.
    """
    batch: list[str] = []
    size = 0
    for name in names:
        cost = 2 + len(name.encode("utf-8"))
        if batch and (size + cost > MAX_VALUE_BYTES or len(batch) >= most):
            yield batch
            batch, size = [], 0
        batch.append(name)
        size += cost
    if batch:
        yield batch


class EventBatch(ChunkedBytes):
    """
    The events of a Deliver command: L{WireEvent}s in Python, their
    concatenated MessagePack records on the wire.
    """

    def toString(self, inObject: Sequence[WireEvent]) -> bytes:
        return b"".join(encode_event(*event[:4]) for event in inObject)

    def fromString(self, inString: bytes) -> list[WireEvent]:
        return decode_events(inString)


class DroppedCounts(amp.Argument):
    """
    How many events were dropped before some events of a Deliver batch, by
    their index: one MessagePack value (see L{encode_gaps}).
    """

    def toString(self, inObject: dict[int, int]) -> bytes:
        return encode_gaps(inObject)

    def fromString(self, inString: bytes) -> dict[int, int]:
        return decode_gaps(inString)


class EmittedBatch(ChunkedBytes):
    """
    The publishes of an Emit command: (subjects, codec, payload) records in
    Python, their concatenated MessagePack records on the wire.  Decoding
    checks only that the MessagePack is whole, with no array over
    L{NAMES_PER_CALL} (no publish may name more subjects); each record's
    shape is checked as it is published
    (L{eventd.wire.records.check_emitted}).
    """

    def toString(self, inObject: Sequence[EmittedRecord]) -> bytes:
        return b"".join(encode_emitted(*publish) for publish in inObject)

    def fromString(self, inString: bytes) -> list[object]:
        return decode_emitted(inString, NAMES_PER_CALL)


class JSONValue(ChunkedBytes):
    """
    A JSON value: UTF-8 JSON text (ASCII in fact, non-ASCII characters
    escaped), chunked like any L{ChunkedBytes}, so it has no size limit.
    """

    def toString(self, inObject: object) -> bytes:
        return json.dumps(inObject, separators=(",", ":")).encode("ascii")

    def fromString(self, inString: bytes) -> object:
        try:
            return json.loads(inString)
        except ValueError as e:
            raise BadArguments(f"not a JSON value: {e}") from None
