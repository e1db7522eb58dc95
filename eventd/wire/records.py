"""
The MessagePack records inside eventd's batch arguments.

An event travels to a subscriber as the array C{[subject, time, codec,
payload]}; a one-way publish travels to the server as C{[subjects, codec,
payload]}.  Many records are concatenated in one AMP argument, with no
separator or count.  MessagePack is decoded in C by every mainstream
implementation, which matters here: a subscriber's cost per event is mostly
the cost of decoding it.

The server encodes each event once, whatever the number of its
subscribers, and never decodes a payload.
"""

from typing import NamedTuple, Sequence

import msgpack

from eventd.errors import BadArguments, LimitExceeded


class WireEvent(NamedTuple):
    """
    An event as it travels to a subscriber: the payload still encoded.

    @ivar dropped_before: how many events the server dropped for this
        subscriber just before this one (its queue was full).
    """

    subject: str
    time: float
    codec: str
    payload: bytes
    dropped_before: int = 0


class EmittedRecord(NamedTuple):
    """
    One publish of an Emit batch.
    """

    subjects: Sequence[str]
    codec: str
    payload: bytes


def encode_event(subject: str, time: float, codec: str, payload: bytes) -> bytes:
    """
    One event's record in a Deliver batch.
    """
    return msgpack.packb((subject, time, codec, payload))


def decode_events(data: bytes) -> list[WireEvent]:
    """
    The events of one Deliver batch, in order.  Elements past the fourth
    of a record are ignored, so the format can grow.
    """
    unpacker = msgpack.Unpacker(raw=False)
    unpacker.feed(data)
    return [WireEvent(*record[:4]) for record in unpacker]


def encode_gaps(gaps: dict[int, int]) -> bytes:
    """
    The C{dropped} value of a Deliver box: how many events were dropped
    just before some of its events, as the MessagePack array of
    C{[index, count]} pairs.
    """
    return msgpack.packb(sorted(gaps.items()))


def decode_gaps(data: bytes) -> dict[int, int]:
    """
    The counts of a Deliver box's C{dropped} value, by event index.
    """
    return {int(index): int(count) for index, count in msgpack.unpackb(data)}


def encode_emitted(subjects: Sequence[str], codec: str, payload: bytes) -> bytes:
    """
    One publish's record in an Emit batch.
    """
    return msgpack.packb((subjects, codec, payload))


def decode_emitted(data: bytes, most_subjects: int) -> list[object]:
    """
    The records of one Emit batch, not yet checked (see L{check_emitted}).

    @param most_subjects: the most subjects a publish may ever name: an
        array longer than that is refused as soon as its length is read,
        rather than decoded in full first.
    @raise LimitExceeded: if an array is longer than C{most_subjects}.
    @raise BadArguments: if C{data} is not a sequence of whole MessagePack
        values.
    """
    unpacker = msgpack.Unpacker(raw=False, max_array_len=most_subjects)
    unpacker.feed(data)
    try:
        records = list(unpacker)
    except Exception as e:  # msgpack's errors share no base class
        if isinstance(e, ValueError) and "max_array_len" in str(e):
            raise LimitExceeded(
                f"an emitted publish names more than {most_subjects} subjects, more than "
                "any request may"
            ) from None
        raise BadArguments(
            f"the publishes of an emit are not MessagePack: {type(e).__name__}: {e}"
        ) from None
    if unpacker.tell() != len(data):
        raise BadArguments("the publishes of an emit end inside a MessagePack value")
    return records


def check_emitted(record: object) -> EmittedRecord:
    """
    The publish an Emit record stands for, if it has the shape
    docs/protocol.md gives it: an array of at least three elements, an
    array of strings, a string and binary (elements past the third are
    ignored, so the format can grow).

    @raise BadArguments: naming what is wrong with it.
    """
    if not isinstance(record, (list, tuple)) or len(record) < 3:
        raise BadArguments(
            "an emitted publish must be an array [subjects, codec, payload], "
            f"not {_describe(record)}"
        )
    subjects, codec, payload = record[:3]
    if not isinstance(subjects, (list, tuple)) or not all(
        isinstance(subject, str) for subject in subjects
    ):
        raise BadArguments(
            f"the subjects of an emitted publish must be an array of strings, "
            f"not {_describe(subjects)}"
        )
    if not isinstance(codec, str):
        raise BadArguments(
            f"the codec of an emitted publish must be a string, not {_describe(codec)}"
        )
    if not isinstance(payload, bytes):
        raise BadArguments(
            f"the payload of an emitted publish must be binary (MessagePack bin), "
            f"not {_describe(payload)}"
        )
    return EmittedRecord(subjects, codec, payload)


_MESSAGEPACK_TYPES = {
    str: "a string",
    bytes: "binary",
    list: "an array",
    tuple: "an array",
    dict: "a map",
    int: "an integer",
    float: "a float",
    bool: "a boolean",
    type(None): "nil",
}


def _describe(value: object) -> str:
    """
    A value's MessagePack type in words, for an error message that a client
    in any language understands.
    """
    return _MESSAGEPACK_TYPES.get(type(value), type(value).__name__)
