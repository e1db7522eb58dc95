"""
The wire schema: the AMP commands eventd's server and clients exchange.

docs/protocol.md describes the same commands for someone writing a client
in another language; keep the two in step.

A client sends L{Publish}, L{Subscribe}, L{SubscribeMatch}, L{Unsubscribe}
and L{Stats}, each answered by the server.  The server sends L{Deliver},
which is never answered: its single argument carries a batch of events, each
a MessagePack array, concatenated.  MessagePack is decoded in C by every
mainstream implementation, which matters here: a subscriber's cost per event
is mostly the cost of decoding it.

One AMP value holds at most 65,535 bytes.  A longer byte string (a big
message, a big batch) is split over several keys: C{payload},
C{payload.2}, C{payload.3} and so on, each but the last holding exactly
65,535 bytes; see L{ChunkedBytes}.
"""

import json
from struct import pack
from typing import Iterator, NamedTuple, Sequence

import msgpack
from twisted.protocols import amp

from eventd.errors import (
    BadArguments,
    BadPattern,
    BadSubject,
    MessageTooLarge,
    TooManySubscriptions,
)

MAX_VALUE_BYTES = amp.MAX_VALUE_LENGTH
"""The most bytes one AMP value holds."""


class ChunkedBytes(amp.Argument):
    """
    A byte string of any length, split over as many AMP values as it needs:
    C{name}, C{name.2}, C{name.3}, ...  An empty string is sent as one empty
    C{name} value.
    """

    def toBox(self, name, strings, objects, proto):
        data = self.toString(objects.pop(amp._wireNameToPythonIdentifier(name)))
        strings.update(chunked(name, data))

    def fromBox(self, name, strings, objects, proto):
        chunks = [strings.pop(name)]
        number = 1
        while (key := chunk_key(name, number)) in strings:
            chunks.append(strings.pop(key))
            number += 1
        objects[amp._wireNameToPythonIdentifier(name)] = self.fromString(
            b"".join(chunks)
        )

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


def name_batches(names: Sequence[str]) -> Iterator[list[str]]:
    """
    Split subjects or patterns into lists that each fit one AMP value as a
    C{ListOf(Unicode())} argument (each item costs a 2-byte length and its
    UTF-8 bytes), so a client can (re)subscribe to any number of them.
    """
    batch: list[str] = []
    size = 0
    for name in names:
        cost = 2 + len(name.encode("utf-8"))
        if batch and size + cost > MAX_VALUE_BYTES:
            yield batch
            batch, size = [], 0
        batch.append(name)
        size += cost
    if batch:
        yield batch


class WireEvent(NamedTuple):
    """
    An event as it travels to a subscriber: the payload still encoded.
    """

    subject: str
    time: float
    codec: str
    payload: bytes


def encode_event(subject: str, time: float, codec: str, payload: bytes) -> bytes:
    """
    One event's record in a L{Deliver} batch: the MessagePack array
    C{[subject, time, codec, payload]}.  The server encodes each event once,
    whatever the number of its subscribers.
    """
    return msgpack.packb((subject, time, codec, payload))


def decode_events(data: bytes) -> list[WireEvent]:
    """
    The events of one L{Deliver} batch, in order.  Elements past the fourth
    of a record are ignored, so the format can grow.
    """
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data)
    return [WireEvent(*record[:4]) for record in unpacker]


class EventBatch(ChunkedBytes):
    """
    The events of a L{Deliver} command: L{WireEvent}s in Python, their
    concatenated MessagePack records on the wire.
    """

    def toString(self, inObject: Sequence[WireEvent]) -> bytes:
        return b"".join(encode_event(*event) for event in inObject)

    def fromString(self, inString: bytes) -> list[WireEvent]:
        return decode_events(inString)


class _EventdCommand(amp.Command):
    """
    What every eventd command shares: arguments that cannot be decoded are
    refused with L{BadArguments} (the server raises it before the command
    runs).
    """

    errors: dict[type[Exception], bytes] = {BadArguments: b"BAD_ARGUMENTS"}


class Publish(_EventdCommand):
    """
    Publish one message on one or more subjects: one event per subject, all
    with the same server time.  Answered once every subscriber's queue took
    the events (in block mode that may wait for a slow subscriber).
    """

    commandName = b"publish"
    arguments = [
        (b"subjects", amp.ListOf(amp.Unicode())),
        (b"codec", amp.Unicode()),
        (b"payload", ChunkedBytes()),
    ]
    response = [(b"time", amp.Float())]
    errors = {BadSubject: b"BAD_SUBJECT", MessageTooLarge: b"MESSAGE_TOO_LARGE"}


class Subscribe(_EventdCommand):
    """
    Subscribe this connection to exact subjects (case-insensitive).
    """

    commandName = b"subscribe"
    arguments = [(b"subjects", amp.ListOf(amp.Unicode()))]
    response: list[tuple[bytes, amp.Argument]] = []
    errors = {
        BadSubject: b"BAD_SUBJECT",
        TooManySubscriptions: b"TOO_MANY_SUBSCRIPTIONS",
    }


class SubscribeMatch(_EventdCommand):
    """
    Subscribe this connection to every subject matching one of these regular
    expressions (RE2 syntax, anchored at the start, case-insensitive).
    """

    commandName = b"subscribe_match"
    arguments = [(b"patterns", amp.ListOf(amp.Unicode()))]
    response: list[tuple[bytes, amp.Argument]] = []
    errors = {
        BadPattern: b"BAD_PATTERN",
        TooManySubscriptions: b"TOO_MANY_SUBSCRIPTIONS",
    }


class Unsubscribe(_EventdCommand):
    """
    Drop subscriptions: each name is removed as an exact subject and as a
    pattern.  Names not subscribed to are ignored.
    """

    commandName = b"unsubscribe"
    arguments = [(b"subjects", amp.ListOf(amp.Unicode()))]
    response: list[tuple[bytes, amp.Argument]] = []


class JSONValue(ChunkedBytes):
    """
    A JSON value: UTF-8 JSON text (ASCII in fact, non-ASCII characters
    escaped), chunked like any L{ChunkedBytes}, so it has no size limit.
    """

    def toString(self, inObject: object) -> bytes:
        return json.dumps(inObject, separators=(",", ":")).encode("ascii")

    def fromString(self, inString: bytes) -> object:
        return json.loads(inString)


class Stats(_EventdCommand):
    """
    The server's figures: totals since it started, and one record per
    subscribing connection; see L{eventd.stats.ServerStats.as_dict}.

    They travel as one JSON object rather than as AMP values: a client in
    any language reads them with the JSON parser it already has, new figures
    can be added without changing the schema, and the list of subscribers,
    which grows with the connections, may pass the 65,535 bytes of one AMP
    value.
    """

    commandName = b"stats"
    arguments: list[tuple[bytes, amp.Argument]] = []
    response = [(b"stats", JSONValue())]


def encode_emitted(subjects: Sequence[str], codec: str, payload: bytes) -> bytes:
    """
    One publish's record in an L{Emit} batch: the MessagePack array
    C{[subjects, codec, payload]}.
    """
    return msgpack.packb((subjects, codec, payload))


class EmittedBatch(ChunkedBytes):
    """
    The publishes of an L{Emit} command: (subjects, codec, payload) triples
    in Python, their concatenated MessagePack records on the wire.
    """

    def toString(self, inObject: Sequence[tuple[Sequence[str], str, bytes]]) -> bytes:
        return b"".join(encode_emitted(*publish) for publish in inObject)

    def fromString(self, inString: bytes) -> msgpack.Unpacker:
        unpacker = msgpack.Unpacker(raw=False)
        unpacker.feed(inString)
        return unpacker


class Emit(amp.Command):
    """
    Client to server: many publishes in one box, never answered.  The fast
    way to publish: no answer to wait for, one box for all the publishes a
    client made in one turn of its event loop.  Flow control is TCP's: the
    server stops reading a client whose publishes wait for room (block
    mode).  A publish the server refuses is logged and skipped.
    """

    commandName = b"emit"
    arguments = [(b"publishes", EmittedBatch())]
    requiresAnswer = False


class Deliver(amp.Command):
    """
    Server to subscriber: a batch of events, oldest first.  Never answered.
    """

    commandName = b"deliver"
    arguments = [(b"events", EventBatch())]
    requiresAnswer = False


def _key_value(key: bytes, value: bytes) -> bytes:
    return pack("!H", len(key)) + key + pack("!H", len(value)) + value


def _one_way_box(command: type[amp.Command], key: bytes, records: Sequence[bytes]) -> bytes:
    """
    A serialized one-way box of C{command} whose one L{ChunkedBytes}
    argument, C{key}, is the concatenation of pre-encoded C{records}: built
    by joining the records rather than encoding them again.  It holds the
    same keys and values as the command itself would send (the key order
    may differ, which AMP ignores).
    """
    parts = [_key_value(amp.COMMAND, command.commandName)]
    parts.extend(_key_value(*item) for item in chunked(key, b"".join(records)))
    parts.append(b"\x00\x00")
    return b"".join(parts)


def deliver_box(records: Sequence[bytes]) -> bytes:
    """
    The serialized L{Deliver} box carrying these records (from
    L{encode_event}).
    """
    return _one_way_box(Deliver, b"events", records)


def emit_box(records: Sequence[bytes]) -> bytes:
    """
    The serialized L{Emit} box carrying these records (from
    L{encode_emitted}).
    """
    return _one_way_box(Emit, b"publishes", records)
