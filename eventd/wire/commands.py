"""
The wire schema: the AMP commands eventd's server and clients exchange.

docs/protocol.md describes the same commands for someone writing a client
in another language; keep the two in step.

A client sends L{Publish}, L{Subscribe}, L{SubscribeMatch}, L{Unsubscribe}
and L{Stats}, each answered by the server, and the one-way L{Emit}; to a
server that admits only known clients, L{Login} and L{LoginFinal} first.  The
server sends L{Deliver}, which is never answered: its argument carries a
batch of events (L{eventd.wire.records}); L{Heartbeat}, which a client
answers to show it is there; and L{Goodbye}, just before it closes a
connection, saying why.  The errors each command may answer with, and their
codes, come from L{eventd.errors.WIRE_CODES}.
"""

from struct import pack
from typing import Optional, Sequence

from twisted.protocols import amp

from eventd.errors import (
    AuthRequired,
    BadArguments,
    BadPattern,
    BadSubject,
    LimitExceeded,
    LoginFailed,
    MessageTooLarge,
    PermissionDenied,
    TooManySubscriptions,
    wire_errors,
)
from eventd.wire.arguments import (
    ChunkedBytes,
    DroppedCounts,
    EmittedBatch,
    EventBatch,
    JSONValue,
    Names,
    chunked,
)
from eventd.wire.records import encode_gaps

POLICIES = ("block", "drop", "drop-oldest", "disconnect")
"""What a subscriber may ask its full queue to do (the server's
--when-full is the default and the limit)."""


class _EventdCommand(amp.Command):
    """
    What every eventd command shares: arguments that cannot be decoded are
    refused with L{BadArguments} (the server raises it before the command
    runs), and on a server that admits only clients that log in, any
    command but the login's is refused with L{AuthRequired} until one has.
    """

    errors = wire_errors(BadArguments, AuthRequired)


SCRAM_SHA_256 = "SCRAM-SHA-256"
"""The one login mechanism (RFC 7677): the password never crosses the wire,
the server keeps only salted keys, and each side proves to the other that
it knows the secret."""


class Login(_EventdCommand):
    """
    Begin logging in: the client's first SCRAM message (RFC 5802: its user
    name and a fresh nonce), answered with the server's first (the user's
    salt and iteration count, and the joint nonce).
    """

    commandName = b"login"
    arguments = [(b"mechanism", amp.Unicode()), (b"message", amp.Unicode())]
    response = [(b"message", amp.Unicode())]
    errors = wire_errors(LoginFailed)


class LoginFinal(_EventdCommand):
    """
    End logging in: the client's final SCRAM message, carrying its proof
    that it knows the password, answered with the server's final one,
    carrying the server's signature, which proves that the server knows it
    too; and the user name the connection now acts as.
    """

    commandName = b"login_final"
    arguments = [(b"message", amp.Unicode())]
    response = [(b"message", amp.Unicode()), (b"user", amp.Unicode())]
    errors = wire_errors(LoginFailed)


class Publish(_EventdCommand):
    """
    Publish one message on one or more subjects: one event per subject, all
    with the same server time.  Answered once every subscriber's queue took
    the events (in block mode that may wait for a slow subscriber).
    """

    commandName = b"publish"
    arguments = [
        (b"subjects", Names()),
        (b"codec", amp.Unicode()),
        (b"payload", ChunkedBytes()),
    ]
    response = [(b"time", amp.Float())]
    errors = wire_errors(BadSubject, MessageTooLarge, LimitExceeded, PermissionDenied)


class Subscribe(_EventdCommand):
    """
    Subscribe this connection to exact subjects (case-insensitive).  With
    C{policy}, also say what the connection's full queue should do (one of
    L{POLICIES}).
    """

    commandName = b"subscribe"
    arguments = [
        (b"subjects", Names()),
        (b"policy", amp.Unicode(optional=True)),
    ]
    response: list[tuple[bytes, amp.Argument]] = []
    errors = wire_errors(BadSubject, TooManySubscriptions, LimitExceeded, PermissionDenied)


class SubscribeMatch(_EventdCommand):
    """
    Subscribe this connection to every subject matching one of these regular
    expressions (RE2 syntax, anchored at the start, case-insensitive), and
    optionally set its C{policy} as L{Subscribe} does.
    """

    commandName = b"subscribe_match"
    arguments = [
        (b"patterns", Names()),
        (b"policy", amp.Unicode(optional=True)),
    ]
    response: list[tuple[bytes, amp.Argument]] = []
    errors = wire_errors(BadPattern, TooManySubscriptions, LimitExceeded)


class Unsubscribe(_EventdCommand):
    """
    Drop subscriptions: each name is removed as an exact subject and as a
    pattern.  Names not subscribed to are ignored.
    """

    commandName = b"unsubscribe"
    arguments = [(b"subjects", Names())]
    response: list[tuple[bytes, amp.Argument]] = []
    errors = wire_errors(LimitExceeded)


class Stats(_EventdCommand):
    """
    The server's figures: totals since it started, and one record per
    subscribing connection; see L{eventd.server.stats.ServerStats.as_dict}.

    They travel as one JSON object rather than as AMP values: a client in
    any language reads them with the JSON parser it already has, new figures
    can be added without changing the schema, and the list of subscribers,
    which grows with the connections, may pass the 65,535 bytes of one AMP
    value.
    """

    commandName = b"stats"
    arguments: list[tuple[bytes, amp.Argument]] = []
    response = [(b"stats", JSONValue())]
    errors = wire_errors(PermissionDenied)


class Emit(_EventdCommand):
    """
    Client to server: many publishes in one box, not answered.  The fast
    way to publish: no answer to wait for, one box for all the publishes a
    client made in one turn of its event loop.  Flow control is TCP's: the
    server stops reading a client whose publishes wait for room (block
    mode).  A publish the server refuses is counted, logged and skipped.
    """

    commandName = b"emit"
    arguments = [(b"publishes", EmittedBatch())]
    requiresAnswer = False
    errors = wire_errors(MessageTooLarge, LimitExceeded, PermissionDenied)


class Deliver(amp.Command):
    """
    Server to subscriber: a batch of events, oldest first, and, if events
    were dropped for it, how many just before which.  Never answered.
    """

    commandName = b"deliver"
    arguments = [(b"events", EventBatch()), (b"dropped", DroppedCounts(optional=True))]
    requiresAnswer = False


class Heartbeat(amp.Command):
    """
    Server to client, on a connection that has been quiet: the client's
    answer shows it is still there.  A client that does not answer in time
    is disconnected.
    """

    commandName = b"heartbeat"
    arguments: list[tuple[bytes, amp.Argument]] = []
    response: list[tuple[bytes, amp.Argument]] = []


GOODBYES = {
    "SLOW_CONSUMER": "the subscriber's queue stayed full too long, or filled "
    "under the disconnect policy",
    "HEARTBEAT_TIMEOUT": "the client did not answer a heartbeat in time",
    "READ_TIMEOUT": "a box the client began did not end in time",
    "MAX_CONNECTIONS": "the server has as many connections as it allows",
    "MEMORY_BUDGET": "the server's memory budget ran out, and this "
    "connection held the most",
    "PROTOCOL_ERROR": "the client sent bytes that are not AMP boxes, or a box "
    "that is neither a command nor an answer",
    "LOGIN_REQUIRED": "the server admits only clients that log in, and the "
    "client sent another command first",
    "LOGIN_FAILED": "the client failed to log in as many times as one "
    "connection may",
    "LOGIN_TIMEOUT": "the client did not log in in time",
    "SHUTDOWN": "the server is stopping",
}
"""Why the server closes a connection, by the code its Goodbye carries: the
one table of them (docs/protocol.md, section 7, lists the same)."""


class Goodbye(amp.Command):
    """
    Server to client, just before the server closes the connection: a code
    from L{GOODBYES}, and the reason in words.  Never answered.
    """

    commandName = b"goodbye"
    arguments = [(b"code", amp.Unicode()), (b"reason", amp.Unicode())]
    requiresAnswer = False


NAME_SHOWN = 64
"""How much of a command name a message about it shows."""


def command_name(name: Optional[bytes]) -> str:
    """
    A command name as messages show it: readable, and short, whatever a
    client sent (an error's description must fit one AMP value).
    """
    if name is None:
        return "?"
    shown = name[:NAME_SHOWN].decode("ascii", "backslashreplace")
    return shown if len(name) <= NAME_SHOWN else f"{shown}... ({len(name)} bytes)"


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


def deliver_box(records: Sequence[bytes], gaps: Optional[dict[int, int]] = None) -> bytes:
    """
    The serialized L{Deliver} box carrying these records (from
    L{eventd.wire.records.encode_event}), and the counts of events dropped
    before some of them, if any.
    """
    box = _one_way_box(Deliver, b"events", records)
    if gaps:
        box = box[:-2] + _key_value(b"dropped", encode_gaps(gaps)) + b"\x00\x00"
    return box


def emit_box(records: Sequence[bytes]) -> bytes:
    """
    The serialized L{Emit} box carrying these records (from
    L{eventd.wire.records.encode_emitted}).
    """
    return _one_way_box(Emit, b"publishes", records)
