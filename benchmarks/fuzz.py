"""
Fuzz eventd's wire protocol: C connections send N random and mutated AMP
boxes to a real server while an innocent publisher and subscriber, on a
subject of their own, check that every one of their events still arrives,
in order.

    python benchmarks/fuzz.py --boxes 150000 --connections 50 --seed 1 [--server URI] [--seconds 120]

Without --server it starts its own C{twistd -n --pidfile= eventd -p 0} (the
twistd beside this Python) with small limits, L{SERVER_OPTIONS}, so that the
fuzz reaches them, and stops it at the end by its PID: SIGTERM, then SIGKILL
if it has not ended in time.  Only loopback addresses are used.

It prints its figures on stdout and exits 1 if the server died or stopped
answering, the innocent pair lost or reordered an event, the server kept
patterns or memory of connections that are gone, logged a traceback, or
did not exit 0 on SIGTERM.  The boxes are a function of --seed; which
connection sends which (and so what the server makes of them) depends on
timing too.

tests/test_fuzz.py runs a short version of the same fuzz in CI.
"""

import argparse
import ipaddress
import os
import random
import re
import signal
import struct
import sys
import tempfile
import time
from collections import Counter
from itertools import islice
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import msgpack
from twisted.internet.defer import Deferred, DeferredList, TimeoutError, ensureDeferred, succeed
from twisted.internet.endpoints import clientFromString, connectProtocol
from twisted.internet.interfaces import IPushProducer
from twisted.internet.protocol import ProcessProtocol, Protocol
from twisted.internet.task import LoopingCall, deferLater, react
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)
from twisted.protocols import amp
from zope.interface import implementer

from eventd.client import EventClient, connect
from eventd.server.protocol import BOX_OVERHEAD_BYTES
from eventd.wire.arguments import MAX_VALUE_BYTES, chunked
from eventd.wire.commands import (
    POLICIES,
    Emit,
    Publish,
    Stats,
    Subscribe,
    SubscribeMatch,
    Unsubscribe,
)
from eventd.wire.records import EmittedRecord

# Limits of the server the fuzzer starts: the boxes aim just under and just
# over the first four, and connections fall quiet for longer than the two
# timeouts.
MAX_MESSAGE_BYTES = 64 * 1024
MAX_PUBLISH_SUBJECTS = 50
MAX_EMIT_RECORDS = 200
MAX_CALL_NAMES = 100
HEARTBEAT_SECONDS = 2
READ_TIMEOUT_SECONDS = 5

SERVER_OPTIONS = (
    "--heartbeat", str(HEARTBEAT_SECONDS),
    "--read-timeout", str(READ_TIMEOUT_SECONDS),
    "--slow-consumer-timeout", "2",
    "--shutdown-timeout", "2",
    "--queue-size", "100",
    "--queue-bytes", str(256 * 1024),
    "--max-message-bytes", str(MAX_MESSAGE_BYTES),
    "--max-publish-subjects", str(MAX_PUBLISH_SUBJECTS),
    "--max-publish-bytes", str(1024 * 1024),
    "--max-emit-records", str(MAX_EMIT_RECORDS),
    "--max-call-names", str(MAX_CALL_NAMES),
    "--max-subscriptions", "100",
    "--max-total-subscriptions", "2000",
    "--max-pattern-size", "300",
    "--max-pattern-instructions", "20000",
    "--max-memory-bytes", str(1024 * 1024),
)
"""The server's options when the fuzzer starts it: limits small enough for
the fuzz to reach each of them."""

BOX_LIMIT = MAX_MESSAGE_BYTES + BOX_OVERHEAD_BYTES
"""The server's box limit under L{SERVER_OPTIONS} (docs/protocol.md, section 10)."""

INNOCENT_SUBJECT = "innocent.pair"
"""The innocent pair's subject; the fuzz never publishes on it."""

PAIR_INTERVAL = 0.01
"""Seconds between two publishes of the innocent publisher."""

START_SECONDS = 30
"""The most a server may take to print its banner, or a client to connect."""

WAIT_SECONDS = 15
"""The most any other single wait may take: an answer, the pair's last
events, the server's exit after SIGTERM, the fleet's closing."""

KILL_SECONDS = 5
"""After SIGKILL, the most the server's exit may take to be seen."""

RECONNECT_SECONDS = 0.01
"""How soon a fuzzing connection the server closed is opened again."""

TURN_BYTES = 512 * 1024
"""The most the fleet writes in one reactor turn, so the turn stays short
(the innocent pair's clients share this reactor and must answer heartbeats)."""

TURN_SECONDS = 0.02
"""The most the fleet spends making and writing boxes in one reactor turn."""

BURST = 8
"""The most boxes one connection is given in a row."""

REST_CHANCE = 0.001
"""How often a connection goes quiet after a box, for up to L{REST_SECONDS}."""

REST_SECONDS = 3 * HEARTBEAT_SECONDS
"""Long enough to be asked for a heartbeat, and closed if it does not answer."""

STALL_CHANCE = 0.1
"""How often a connection that just sent a truncated box goes quiet for
longer than the read timeout (so the server should close it, READ_TIMEOUT)."""

NO_GOODBYE = "no Goodbye"
"""How a close the server did not explain is counted."""

COMMANDS = {command.commandName: command for command in (Publish, Subscribe, SubscribeMatch, Unsubscribe, Emit, Stats)}
"""The commands the server answers, by wire name."""


def sleep(reactor, seconds: float) -> Deferred:
    """Fires after C{seconds}: what a coroutine awaits to let the reactor run."""
    return deferLater(reactor, seconds, lambda: None)


def within(reactor, deferred: Deferred, seconds: float) -> Deferred:
    """C{deferred}, failing with TimeoutError if it has not fired in time."""
    return deferred.addTimeout(seconds, reactor)


# Making boxes.

VOCABULARY = [
    "a", "b", "news", "NEWS", "stock.ibm", "Stock.IBM", "weather", "straße", "STRASSE",
    "ünïcödé", "emoji 🎉", "dots.and/slashes", "tab\there", "nul\x00byte", " ", "x" * 1024,
]
"""Subjects the fuzz uses often, so that its publishes reach its subscriptions."""

VALID_PATTERNS = [  # RE2 takes these, some to Python's surprise
    ".*", "a", "stock\\.", "[a-z]+\\d*", "(news|weather)$", "\\pL+", "(?i)x", "^$", "\\C", "(?U)a*",
    "\\Q.*\\E", "[[:word:]]+", "(?P<n>a)(?P<n>b)", "\\b", "[^\\x00-\\x{10FFFF}]", "straße|STRASSE",
]
INVALID_PATTERNS = [  # RE2 refuses these
    "", "(", ")", "\\1", "(?=a)", "(?!a)", "(?<=a)b", "(?<!a)b", "a{1001}", "[z-a]", "*a", "a**",
    "\\Z", "(?P<n>", "\\8", "[[:foo:]]", "x{2,1}", "(?P<>a)", "\\p{Nope}", "(?#comment)", "a++",
]
HUGE_PATTERNS = [
    lambda n: "\\pL{40}" * (1 + n % 25),
    lambda n: "(" * (n % 600) + ")" * (n % 600),
    lambda n: "a{1000}" * (1 + n % 3),
    lambda n: "[\\x{0}-\\x{10FFFF}]{%d}" % (n % 200),
    lambda n: "(a|b|c|d|e){%d}" % (n % 120),
    lambda n: "x" * (1000 + n % 50),
]
"""Patterns over the size limits: in characters, in RE2 instructions, in nesting."""

TEXT_CHARACTERS = "".join(
    [chr(c) for c in range(0x250)]
    + [chr(c) for c in random.Random(0).sample(range(0x250, 0xD800), 300)]
    + [chr(c) for c in random.Random(0).sample(range(0xE000, 0x110000), 300)]
    + ["\u0301", "\u200b", "\ufeff", "\ufffd", "\uffff", "\U0010ffff", "\u212a", "\u0130", "\u1e9e", "\ufb00"]
)
"""Characters random text is made of: ASCII and its controls, Latin, a
sample of every plane, and characters with odd case folding or none (no
surrogates: UTF-8 cannot hold them)."""

JUNK = [
    b"",
    b"\xff\xfe invalid UTF-8 \xc0\x80",
    b"1.5", b"-1", b"nan", b"true", b"null", b"[]",
    b"\x00\x05ab",  # a list whose only item is cut short
    b"\x00\x02\xff\xfe",  # a list of one item that is not UTF-8
    b"\x00\x03\xed\xa0\x80",  # a list of one surrogate, which UTF-8 may not hold
    msgpack.packb([["a"], "json", "not binary"]),
    msgpack.packb({"not": "a record"}),
    b"\x93\xc4",  # MessagePack that ends inside a value
]
"""Values of the wrong kind, whatever the key."""

ODD_RECORDS = [
    ["a", "json", b"x"], [["a"], 5, b"x"], [["a"], "json", "text"], [[1, 2], "json", b"x"],
    {"a": 1}, None, [["a"], "json"], [["a"], "json", b"x", "more", 1], [["a"]] * 3, 2**64 - 1,
    msgpack.ExtType(5, b"x"), [[]] * 3, [["a"], "j" * 65, b"x"], [[""], "json", b"x"],
    [["y" * 1025], "json", b"x"], [["a"] * (MAX_PUBLISH_SUBJECTS + 1), "json", b"x"],
    [["a"], "raw", b"x" * (MAX_MESSAGE_BYTES + 1)], {(): 1},
]
"""Emit records of the wrong shape or types, or over a limit."""

REGEX_SOUP = "()[]{}.*+?|\\^$aZ09-,:=!<>Ppx"
"""What random patterns are made of."""

ODD_COMMAND_NAMES = [
    b"deliver", b"heartbeat", b"goodbye", b"StartTLS", b"PUBLISH", b"Publish", b"publish ",
    b"stats\x00", b"", b"_command", b"amp_publish",
]
"""Command names the server must refuse: its own commands, AMP's, near misses."""


class BoxMaker:
    """
    Makes the fuzz, one box at a time: each a random kind of L{KINDS}, from a
    random generator seeded by the caller, so a seed makes the same boxes.

    Valid boxes come from the real commands (L{Command.makeArguments}); the
    other kinds are made from them, or from nothing, as a hostile or broken
    client might send them.
    """

    KINDS = {
        "valid": 24,
        "mutated": 26,
        "unknown_command": 8,
        "answer_or_error": 4,
        "without_command": 4,
        "oversized": 1,
        "key_too_long": 1,
        "truncated": 3,
        "bit_flipped": 10,
        "random_bytes": 2,
    }
    """Each kind of box, and its weight.  The last four leave the stream out
    of step, and the server closes the connection sooner or later: they are
    rarer, as each costs a connection and the boxes sent after it on that
    connection."""

    GENTLE = {"valid", "unknown_command", "oversized"}
    """The kinds the server should refuse without closing the connection
    (the others make it close the connection at once, or once the stream,
    out of step, makes no sense; a mutation often does)."""

    def __init__(self, seed: int, gentle: bool = False) -> None:
        """
        @param gentle: make only the L{GENTLE} kinds, so that the
            connections sent these boxes live long enough to reach the
            limits on what one connection may hold.
        """
        self.rng = random.Random(seed)
        kinds = {kind: weight for kind, weight in self.KINDS.items() if kind in self.GENTLE or not gentle}
        self._kinds = list(kinds)
        self._weights = list(kinds.values())
        self._tags = 0

    def box(self) -> tuple[str, bytes]:
        """The next box: its kind, and its bytes."""
        kind = self.rng.choices(self._kinds, self._weights)[0]
        return kind, getattr(self, "_" + kind)()

    # The kinds.

    def _valid(self) -> bytes:
        return self._command_box().serialize()

    def _mutated(self) -> bytes:
        box = self._command_box()
        mutations = [self._drop_key, self._replace_value, self._add_key, self._other_command, self._other_ask]
        if box[amp.COMMAND] == Emit.commandName:
            mutations.append(self._odd_records)
        for mutate in self.rng.choices(mutations, k=self.rng.randint(1, 3)):
            mutate(box)
        return box.serialize()

    def _unknown_command(self) -> bytes:
        box = amp.AmpBox({amp.COMMAND: self._command_name()})
        if self.rng.random() < 0.5:
            box[amp.ASK] = self._tag()
        if self.rng.random() < 0.3:
            box.update(self._arguments(self.rng.choice(list(COMMANDS))))
        return box.serialize()

    def _answer_or_error(self) -> bytes:
        """An answer, or an error, to a request the server never made (or,
        with a small tag, perhaps to one of its heartbeats)."""
        rng = self.rng
        tag = rng.choice([b"%x" % rng.randint(1, 40), rng.randbytes(rng.randint(0, 20))])
        if rng.random() < 0.5:
            box = amp.AmpBox({amp.ANSWER: tag})
        else:
            box = amp.AmpBox({amp.ERROR: tag})
            if rng.random() < 0.6:
                box[amp.ERROR_CODE] = rng.choice([b"UNKNOWN", b"UNHANDLED", b"BAD_ARGUMENTS"])
            elif rng.random() < 0.5:
                box[amp.ERROR_CODE] = self._junk()
            if rng.random() < 0.8:
                box[amp.ERROR_DESCRIPTION] = self._junk()
        if rng.random() < 0.3:
            box[amp.COMMAND] = rng.choice(list(COMMANDS))
        return box.serialize()

    def _without_command(self) -> bytes:
        """A box the server cannot route: empty, only a tag, only arguments."""
        rng = self.rng
        box = amp.AmpBox()
        if rng.random() < 0.4:
            box[amp.ASK] = self._tag()
        if rng.random() < 0.5:
            box.update(self._arguments(rng.choice(list(COMMANDS))))
        return box.serialize()

    def _oversized(self) -> bytes:
        """A box over the server's box limit: a few big values, or very many
        small keys (each costs the server 64 bytes more)."""
        rng = self.rng
        box = amp.AmpBox()
        box[amp.COMMAND] = rng.choice(list(COMMANDS)) if rng.random() < 0.6 else self._command_name()
        if rng.random() < 0.5:
            box[amp.ASK] = self._tag()
        if rng.random() < 0.5:
            data = rng.randbytes(BOX_LIMIT + rng.randint(1, MAX_VALUE_BYTES))
            box.update(chunked(b"payload", data))
        else:
            box.update((b"k%d" % n, b"v") for n in range(BOX_LIMIT // 64 + rng.randint(1, 500)))
        return box.serialize()

    def _key_too_long(self) -> bytes:
        """A key longer than AMP allows (the server must close the
        connection), perhaps after a valid first key."""
        rng = self.rng
        start = amp.AmpBox({amp.COMMAND: rng.choice(list(COMMANDS))}).serialize()[:-2] if rng.random() < 0.5 else b""
        length = rng.randint(256, 65535)
        return start + struct.pack("!H", length) + rng.randbytes(rng.randint(0, min(length, 300)))

    def _truncated(self) -> bytes:
        """A valid box cut short: the next box's bytes end it, as garbage."""
        data = self._command_box().serialize()
        return data[: self.rng.randrange(len(data))]

    def _bit_flipped(self) -> bytes:
        data = bytearray(self._command_box().serialize())
        for _ in range(self.rng.randint(1, 8)):
            bit = self.rng.randrange(len(data) * 8)
            data[bit // 8] ^= 1 << (bit % 8)
        return bytes(data)

    def _random_bytes(self) -> bytes:
        """Noise, half the time with a leading zero so it is read as keys."""
        data = self.rng.randbytes(self.rng.randint(1, 2000))
        return b"\x00" + data if self.rng.random() < 0.5 else data

    # Valid commands.

    def _command_box(self) -> amp.AmpBox:
        """A request of one of the server's commands, with random but
        well-formed arguments, with or without C{_ask}."""
        name = self.rng.choice(list(COMMANDS))
        box = self._arguments(name)
        box[amp.COMMAND] = name
        if self.rng.random() < 0.6:
            box[amp.ASK] = self._tag()
        return box

    def _arguments(self, name: bytes) -> amp.AmpBox:
        """The arguments of command C{name}, made by the command itself."""
        rng = self.rng
        if name == b"publish":
            objects = {"subjects": self._subjects(MAX_PUBLISH_SUBJECTS), "codec": self._codec(), "payload": self._payload()}
        elif name in (b"subscribe", b"subscribe_match"):
            names = self._subjects(MAX_CALL_NAMES) if name == b"subscribe" else self._patterns()
            objects = {"subjects" if name == b"subscribe" else "patterns": names, "policy": self._policy()}
        elif name == b"unsubscribe":
            objects = {"subjects": self._subjects(MAX_CALL_NAMES) + self._patterns()}
        elif name == b"emit":
            count = rng.choice([0, 1, 1, 2, 5, rng.randint(1, 30), rng.randint(MAX_EMIT_RECORDS - 5, MAX_EMIT_RECORDS + 5)])
            objects = {"publishes": [self._record() for _ in range(count)]}
        else:
            objects = {}
        box = COMMANDS[name].makeArguments(objects, None)
        for key in [key for key in box if key in (b"subjects", b"patterns") and len(box[key]) > MAX_VALUE_BYTES]:
            box[key] = box[key][:MAX_VALUE_BYTES]  # a cut list: its last item is incomplete
        return box

    def _record(self) -> EmittedRecord:
        """One publish of an Emit: an Emit carries up to a few hundred, so
        most are quick to make."""
        rng = self.rng
        subjects = self._subjects(MAX_PUBLISH_SUBJECTS, fill=False) if rng.random() < 0.1 else [rng.choice(VOCABULARY)]
        return EmittedRecord(subjects, self._codec(), self._payload(small=True))

    def _subjects(self, most: int, fill: bool = True) -> list[str]:
        """Subjects to publish on or subscribe to: usually a few, sometimes
        none, as many as a call may name give or take a few (all valid and
        new, to reach the limits on subscriptions, or not), or (if C{fill})
        a list that fills one value."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.05:
            return []
        if roll < 0.07 and fill:
            return rng.choices(["a", "b", "bb", "ccc", ""], k=rng.randint(1000, 20000))
        if roll < 0.12:
            return [f"many.{rng.randrange(10**9)}" for _ in range(rng.randint(most - 3, most))]
        if roll < 0.15:
            return [self._subject() for _ in range(rng.randint(most - 3, most + 3))]
        return [self._subject() for _ in range(rng.choice([1, 1, 1, 2, 3, rng.randint(1, 10)]))]

    def _subject(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.6:
            return rng.choice(VOCABULARY)
        if roll < 0.8:
            return "".join(rng.choices("abcdefghij.XYZ/_-", k=rng.randint(1, 20)))
        if roll < 0.9:
            return self._text(rng.randint(1, 30))
        if roll < 0.95:
            return ""
        return "y" * rng.randint(1000, 1100)

    def _text(self, length: int) -> str:
        """Random Unicode text, from L{TEXT_CHARACTERS}."""
        return "".join(self.rng.choices(TEXT_CHARACTERS, k=length))

    def _patterns(self) -> list[str]:
        """Patterns to subscribe to: usually a few, sometimes the same one
        a call's worth of times, or as many new valid ones as a call may
        name (to reach the limits on subscriptions and on RE2 memory)."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.03:
            return [".*"] * rng.randint(MAX_CALL_NAMES - 2, MAX_CALL_NAMES + 2)
        if roll < 0.08:
            return [f"many\\.{rng.randrange(10**9)}(\\.|$)" for _ in range(rng.randint(MAX_CALL_NAMES - 3, MAX_CALL_NAMES))]
        return [self._pattern() for _ in range(rng.choice([0, 1, 1, 2, rng.randint(1, 20)]))]

    def _pattern(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.35:
            return rng.choice(VALID_PATTERNS)
        if roll < 0.6:
            return rng.choice(INVALID_PATTERNS)
        if roll < 0.7:
            return rng.choice(HUGE_PATTERNS)(rng.randint(0, 10_000))
        if roll < 0.9:
            return "".join(rng.choices(REGEX_SOUP, k=rng.randint(1, 40)))
        return self._text(rng.randint(1, 20))

    def _policy(self) -> Optional[str]:
        rng = self.rng
        roll = rng.random()
        if roll < 0.5:
            return None
        if roll < 0.9:
            return rng.choice(POLICIES)
        return rng.choice(["BLOCK", "", "drop-newest", "block\x00"])

    def _codec(self) -> str:
        rng = self.rng
        roll = rng.random()
        if roll < 0.9:
            return rng.choice(["json", "json", "raw", ""])
        return self._text(rng.randint(1, 70))

    def _payload(self, small: bool = False) -> bytes:
        """A message: mostly small, sometimes big, now and then just over
        the limit (chunked over two values)."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.7 or small:
            return rng.choice([b'"hello"', b"[1, 2]", b"{}", b"", rng.randbytes(rng.randint(0, 100))])
        if roll < 0.9:
            return rng.randbytes(rng.randint(100, 4000))
        if roll < 0.98:
            return rng.randbytes(rng.randint(4000, MAX_MESSAGE_BYTES))
        return rng.randbytes(MAX_MESSAGE_BYTES + rng.randint(-5, 5))

    def _tag(self) -> bytes:
        """An C{_ask} tag: usually a counter, as Twisted's, sometimes odd."""
        self._tags += 1
        rng = self.rng
        if rng.random() < 0.9:
            return b"%x" % self._tags
        return rng.choice([b"", rng.randbytes(rng.randint(1, 50)), b"t" * rng.randint(1000, MAX_VALUE_BYTES)])

    def _command_name(self) -> bytes:
        """A command name the server does not have: its own near misses,
        random text or bytes, or a name as long as a value may be."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            return rng.choice(ODD_COMMAND_NAMES)
        if roll < 0.6:
            return "".join(rng.choices("abcdefghijklmnopqrstuvwxyz_", k=rng.randint(1, 30))).encode()
        if roll < 0.9:
            return rng.randbytes(rng.randint(1, 30))
        return rng.choice([b"z", b"\x80", rng.randbytes(1)]) * rng.randint(256, MAX_VALUE_BYTES)

    def _junk(self) -> bytes:
        """A value of the wrong kind for whatever key gets it."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            return rng.randbytes(rng.randint(1, 40))
        if roll < 0.35:
            return rng.randbytes(rng.randint(1000, MAX_VALUE_BYTES))
        if roll < 0.4:
            return b"\x00\x00" * rng.randint(1, 5000)  # a list of empty items
        return rng.choice(JUNK)

    # Mutations of a valid box.

    def _drop_key(self, box: amp.AmpBox) -> None:
        if box:
            del box[self.rng.choice(list(box))]

    def _replace_value(self, box: amp.AmpBox) -> None:
        if box:
            box[self.rng.choice(list(box))] = self._junk()

    def _add_key(self, box: amp.AmpBox) -> None:
        rng = self.rng
        keys = [b"subjects", b"patterns", b"codec", b"payload", b"payload.2", b"payload.7", b"policy", b"publishes",
                b"publishes.2", amp.ASK, amp.ANSWER, amp.ERROR, amp.ERROR_CODE, rng.randbytes(rng.randint(1, 255))]
        box[rng.choice(keys)] = self._junk()

    def _other_command(self, box: amp.AmpBox) -> None:
        """The arguments of one command under the name of another."""
        box[amp.COMMAND] = self.rng.choice(list(COMMANDS))

    def _other_ask(self, box: amp.AmpBox) -> None:
        if amp.ASK in box and self.rng.random() < 0.5:
            del box[amp.ASK]
        else:
            box[amp.ASK] = self._tag()

    def _odd_records(self, box: amp.AmpBox) -> None:
        """An Emit whose records are not what the server expects: wrong
        shapes and types, or MessagePack that is cut or is not MessagePack."""
        rng = self.rng
        records = []
        for _ in range(rng.randint(1, 10)):
            if rng.random() < 0.1:  # arrays nested deeper than any unpacker allows
                records.append(b"\x91" * rng.randint(1, 3000) + b"\xc0")
            else:
                records.append(msgpack.packb(rng.choice(ODD_RECORDS)))
        data = b"".join(records)
        if rng.random() < 0.3:
            data = data[: rng.randrange(len(data) + 1)] + rng.choice([b"", b"\xc1", rng.randbytes(5)])
        for key in [key for key in box if key.startswith(b"publishes")]:
            del box[key]
        box.update(chunked(b"publishes", data))


# Fuzzing connections.

@dataclass
class Tally:
    """
    What the fuzzing connections received from the server, and how they
    were closed.

    @ivar closed: connections the server closed, by the code of the Goodbye
        it sent first (L{NO_GOODBYE} if none).
    @ivar errors: error answers, by code.
    """

    boxes: int = 0
    answers: int = 0
    deliveries: int = 0
    heartbeats: int = 0
    closed: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    connect_failures: int = 0


@implementer(amp.IBoxReceiver, IPushProducer)
class FuzzProtocol(Protocol):
    """
    One fuzzing connection: the fleet writes boxes to its transport, and it
    reads everything the server sends, counts it and forgets it (a
    connection that stopped reading would be a slow consumer, and its
    fuzz would test nothing else).  It is its transport's streaming
    producer, so the fleet writes to it only while the server takes what
    it is sent.

    @ivar lost: fires with the code of the server's Goodbye (None if none
        came), once the connection is gone.
    """

    def __init__(self, tally: Tally, answers_heartbeats: bool) -> None:
        self.tally = tally
        self.answers_heartbeats = answers_heartbeats
        self.paused = False
        self.goodbye: Optional[str] = None
        self.lost: Deferred = Deferred()
        self._parser = amp.BinaryBoxProtocol(self)

    def connectionMade(self) -> None:
        self._parser.makeConnection(self.transport)
        self.transport.registerProducer(self, True)

    def dataReceived(self, data: bytes) -> None:
        self._parser.dataReceived(data)

    def connectionLost(self, reason) -> None:
        self.lost.callback(self.goodbye)

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False

    def stopProducing(self) -> None:
        self.paused = True

    def startReceivingBoxes(self, sender) -> None:
        pass

    def stopReceivingBoxes(self, reason) -> None:
        pass

    def ampBoxReceived(self, box: amp.AmpBox) -> None:
        tally = self.tally
        tally.boxes += 1
        command = box.get(amp.COMMAND)
        if amp.ANSWER in box:
            tally.answers += 1
        elif amp.ERROR in box:
            tally.errors[box.get(amp.ERROR_CODE, b"?").decode("ascii", "replace")] += 1
        elif command == b"deliver":
            tally.deliveries += 1
        elif command == b"goodbye":
            self.goodbye = box.get(b"code", b"?").decode("utf-8", "replace")
        elif command == b"heartbeat":
            tally.heartbeats += 1
            if self.answers_heartbeats and amp.ASK in box:
                self.transport.write(amp.AmpBox({amp.ANSWER: box[amp.ASK]}).serialize())


class _Slot:
    """One of the fleet's connections, across its reconnections, and what
    makes its boxes."""

    def __init__(self, maker: BoxMaker) -> None:
        self.maker = maker
        self.protocol: Optional[FuzzProtocol] = None
        self.resting_until = 0.0


class Fleet:
    """
    C fuzzing connections to one server, sharing out N boxes.  Half of the
    connections are sent boxes of every kind, the other half only the kinds
    that let them live (L{BoxMaker.GENTLE}), so that subscriptions and
    queues build up; each half has its own L{BoxMaker}, seeded from the
    fleet's seed.  A connection the server
    closes is counted (by the Goodbye it sent) and opened again at once;
    one that goes quiet now and then tests the server's heartbeats and read
    timeout.

    @ivar sent: boxes written so far, by kind.
    @ivar count: how many in all.
    @ivar sent_bytes: their bytes.
    """

    def __init__(self, reactor, uri: str, connections: int, seed: int) -> None:
        self.reactor = reactor
        self.tally = Tally()
        self.sent: Counter = Counter()
        self.count = 0
        self.sent_bytes = 0
        self._endpoint = clientFromString(reactor, uri)
        self._rng = random.Random(f"fleet {seed}")
        wild, gentle = BoxMaker(seed), BoxMaker(seed + 1, gentle=True)
        self._slots = [_Slot(gentle if n % 2 else wild) for n in range(connections)]
        self._running = False
        self._kept: list[Deferred] = []

    async def run(self, boxes: int, seconds: float) -> None:
        """
        Send C{boxes} boxes over the connections, or as many as fit in
        C{seconds}.
        """
        reactor = self.reactor
        deadline = reactor.seconds() + seconds
        self._running = True
        self._kept = [ensureDeferred(self._keep_open(slot, deadline)) for slot in self._slots]
        while self.count < boxes and reactor.seconds() < deadline:
            ready = [slot for slot in self._slots if self._ready(slot)]
            if ready:
                self._rng.shuffle(ready)
                self._send_turn(ready, boxes - self.count)
                await sleep(reactor, 0)
            else:
                await sleep(reactor, 0.005)

    def _ready(self, slot: _Slot) -> bool:
        """Whether a connection may be sent boxes now: open, taking what it
        is sent, and not resting."""
        protocol = slot.protocol
        return (
            protocol is not None
            and not protocol.paused
            and protocol.transport.connected
            and not protocol.transport.disconnecting
            and slot.resting_until <= self.reactor.seconds()
        )

    def _send_turn(self, ready: list[_Slot], left: int) -> None:
        """
        Give each ready connection a burst of boxes, within one turn's
        share of bytes and time.
        """
        started = time.perf_counter()
        written = 0
        for slot in ready:
            protocol = slot.protocol
            for _ in range(self._rng.randint(1, BURST)):
                if left <= 0 or protocol.paused:
                    return
                kind, data = slot.maker.box()
                protocol.transport.write(data)
                self.sent[kind] += 1
                self.count += 1
                self.sent_bytes += len(data)
                written += len(data)
                left -= 1
                if self._rest(slot, kind):
                    break
            if written > TURN_BYTES or time.perf_counter() - started > TURN_SECONDS:
                return

    def _rest(self, slot: _Slot, kind: str) -> bool:
        """
        Now and then, let a connection fall quiet after a box: long enough
        to be asked for a heartbeat (and closed, if it does not answer), or,
        after a box begun and not ended, longer than the read timeout.
        Whether it did.
        """
        rng = self._rng
        if kind == "truncated" and rng.random() < STALL_CHANCE:
            quiet = READ_TIMEOUT_SECONDS + 1.5
        elif rng.random() < REST_CHANCE:
            quiet = rng.uniform(0.5, REST_SECONDS)
        else:
            return False
        slot.resting_until = self.reactor.seconds() + quiet
        return True

    async def _keep_open(self, slot: _Slot, deadline: float) -> None:
        """
        Connect this slot, and connect it again each time the server closes
        it, until the fleet stops or the deadline passes.
        """
        reactor = self.reactor
        while self._running and reactor.seconds() < deadline:
            protocol = FuzzProtocol(self.tally, answers_heartbeats=self._rng.random() < 0.5)
            try:
                await within(reactor, connectProtocol(self._endpoint, protocol), START_SECONDS)
            except Exception:
                self.tally.connect_failures += 1
                await sleep(reactor, 0.5)
                continue
            if not self._running:  # made while the fleet was closing
                protocol.transport.abortConnection()
            slot.protocol, slot.resting_until = protocol, 0.0
            goodbye = await protocol.lost
            slot.protocol = None
            if self._running:
                self.tally.closed[goodbye or NO_GOODBYE] += 1
                await sleep(reactor, RECONNECT_SECONDS)

    async def close(self) -> None:
        """
        Close every connection once what was written to it is sent (or
        after L{WAIT_SECONDS}, at once), and stop reconnecting.
        """
        self._running = False
        protocols = [slot.protocol for slot in self._slots if slot.protocol is not None]
        for protocol in protocols:
            # A transport with a producer registered waits for it to go
            # before it closes.
            protocol.transport.unregisterProducer()
            protocol.transport.loseConnection()
        deadline = self.reactor.seconds() + WAIT_SECONDS
        while not all(protocol.lost.called for protocol in protocols) and self.reactor.seconds() < deadline:
            await sleep(self.reactor, 0.05)
        for protocol in protocols:
            protocol.transport.abortConnection()
        await within(self.reactor, DeferredList(self._kept, consumeErrors=True), START_SECONDS + WAIT_SECONDS)


# The innocent pair.

@dataclass
class PairFigures:
    """What the innocent pair saw: every event sent should arrive once, in order."""

    sent: int
    received: int
    missing: int
    out_of_order: int
    publish_failures: int

    @property
    def unharmed(self) -> bool:
        """Whether every publish was answered and its event arrived, once, in order."""
        return self.sent > 0 and self.received == self.sent and not (self.missing or self.out_of_order or self.publish_failures)


class InnocentPair:
    """
    A publisher publishing 0, 1, 2, ... on L{INNOCENT_SUBJECT} every
    L{PAIR_INTERVAL} seconds with answered publishes, and a subscriber of
    that subject: whatever the fuzz does to the server, the subscriber
    should get every number, once each, in order.
    """

    def __init__(self, reactor, publisher: EventClient, subscriber: EventClient) -> None:
        self.reactor = reactor
        self.publisher = publisher
        self.subscriber = subscriber
        self.received: list = []
        self.sent = 0
        self.answered = 0
        self.failures = 0
        self._repeat = LoopingCall(self._publish)
        self._repeat.clock = reactor

    async def start(self) -> None:
        await within(self.reactor, self.subscriber.subscribe(INNOCENT_SUBJECT, self._got), WAIT_SECONDS)
        self._repeat.start(PAIR_INTERVAL)

    def _publish(self) -> None:
        self.publisher.publish(INNOCENT_SUBJECT, self.sent).addCallbacks(self._answered, self._failed)
        self.sent += 1

    def _answered(self, _) -> None:
        self.answered += 1

    def _failed(self, _) -> None:
        self.failures += 1

    def _got(self, event) -> None:
        self.received.append(event.msg)

    async def stop(self) -> PairFigures:
        """
        Stop publishing; once every publish is answered and its event in
        (or L{WAIT_SECONDS} have passed), what the subscriber got.
        """
        self._repeat.stop()
        deadline = self.reactor.seconds() + WAIT_SECONDS
        while self.reactor.seconds() < deadline and (
            self.answered + self.failures < self.sent or len(self.received) < self.answered
        ):
            await sleep(self.reactor, 0.05)
        numbers = [msg for msg in self.received if type(msg) is int]
        return PairFigures(
            sent=self.sent,
            received=len(self.received),
            missing=len(set(range(self.sent)) - set(numbers)),
            out_of_order=sum(1 for before, after in zip(numbers, numbers[1:]) if not before < after),
            publish_failures=self.failures,
        )


# One fuzz run against a server.

@dataclass
class FuzzResult:
    """
    What one fuzz run found.

    @ivar sent: boxes sent, by kind (L{BoxMaker.KINDS}).
    @ivar round_trip_error: None if the final round trip worked, else why not.
    @ivar stats: the server's figures after the fuzz, with only the pair
        connected, if it answered.
    """

    sent: Counter
    sent_bytes: int
    tally: Tally
    pair: PairFigures
    round_trip_error: Optional[str]
    stats: Optional[dict]

    @property
    def boxes(self) -> int:
        return sum(self.sent.values())

    def leftovers(self) -> list[str]:
        """
        What the server still held of the fuzzing connections after they
        were gone (L{leftovers_in}); nothing if it did not answer.
        """
        return [] if self.stats is None else leftovers_in(self.stats)


def leftovers_in(stats: dict) -> list[str]:
    """
    What the server's figures show it holds of connections that are gone,
    each in words: with only the pair connected, it should count two
    connections, and hold no pattern and no memory (the pair's queues are
    empty).
    """
    found = []
    if stats["connections"] != 2:
        found.append(f"{stats['connections']} connections, not the pair's 2")
    if stats["patterns"]:
        found.append(f"{stats['patterns']} patterns that no connection holds")
    if stats["memory_bytes"]:
        found.append(f"{stats['memory_bytes']} bytes of memory charged")
    return found


async def fuzz(reactor, uri: str, boxes: int, connections: int, seed: int, seconds: float) -> FuzzResult:
    """
    Fuzz the server at C{uri} (a loopback address) with C{boxes} boxes over
    C{connections} connections, for C{seconds} at most, beside an innocent
    pair; then check that a new client can still subscribe, publish and
    receive, and take the server's figures.
    """
    check_loopback(uri)
    publisher = await within(reactor, connect(uri, reactor), START_SECONDS)
    subscriber = await within(reactor, connect(uri, reactor), START_SECONDS)
    try:
        pair = InnocentPair(reactor, publisher, subscriber)
        await pair.start()
        fleet = Fleet(reactor, uri, connections, seed)
        try:
            await fleet.run(boxes, seconds)
        finally:
            await fleet.close()
        figures = await pair.stop()
        stats = await settled(reactor, publisher)
        error = await round_trip(reactor, uri)
    finally:
        await publisher.close()
        await subscriber.close()
    return FuzzResult(fleet.sent, fleet.sent_bytes, fleet.tally, figures, error, stats)


async def settled(reactor, client: EventClient) -> Optional[dict]:
    """
    The server's figures once it has given back what the fuzzing
    connections held (or after L{WAIT_SECONDS}, as they are then): their
    closings counted, and their subscriptions, patterns and memory let go.
    A server drops a departed client's subscriptions a few hundred a turn,
    after its connection is gone, so figures taken in that turn may still
    show them; what is held after the wait was not given back.  None if
    the server does not answer.
    """
    deadline = reactor.seconds() + WAIT_SECONDS
    stats = None
    while reactor.seconds() < deadline:
        try:
            stats = await within(reactor, client.stats(), WAIT_SECONDS)
        except Exception:
            return None
        if not leftovers_in(stats):
            break
        await sleep(reactor, 0.1)
    return stats


async def round_trip(reactor, uri: str) -> Optional[str]:
    """
    Prove the server still works: a new client subscribes, publishes, and
    gets its event back.  None if it did, else what went wrong.
    """
    arrived: Deferred = Deferred()
    try:
        client = await within(reactor, connect(uri, reactor), START_SECONDS)
    except Exception as e:
        return f"cannot connect: {e!r}"
    try:
        await within(reactor, client.subscribe("fuzz.round.trip", lambda event: arrived.callback(event.msg)), WAIT_SECONDS)
        await within(reactor, client.publish("fuzz.round.trip", "there and back"), WAIT_SECONDS)
        msg = await within(reactor, arrived, WAIT_SECONDS)
        return None if msg == "there and back" else f"got {msg!r} back"
    except Exception as e:
        return f"{type(e).__name__}: {e}"
    finally:
        await client.close()


def check_loopback(uri: str) -> None:
    """
    Refuse an address that is not on this machine: the fuzz is hostile.

    @raise ValueError: unless C{uri} is a TCP client endpoint string (as
        the server's banner prints it) naming a loopback host.
    """
    fields = [part.replace("\\:", ":") for part in re.split(r"(?<!\\):", uri)]
    positional = [part for part in fields[1:] if "=" not in part]
    named = dict(part.split("=", 1) for part in fields[1:] if "=" in part)
    host = named.get("host") or (positional[0] if positional else "")
    if fields[0] not in ("tcp", "tcp6") or not _is_loopback(host):
        raise ValueError(f"not a loopback TCP address: {uri!r}")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# The server process.

class ServerProcess(ProcessProtocol):
    """
    A C{twistd -n eventd} the fuzzer started, writing its log to a file
    (not to a pipe: a pipe the fuzzer is slow to empty would stall the
    server, and the stalls would be the fuzzer's), and its end.

    @ivar log: the file its stdout and stderr go to.
    """

    def __init__(self, log: Path) -> None:
        self.log = log
        self.exit_code: Optional[int] = None
        self.running = True
        self._end_waiters: list[Deferred] = []

    @property
    def output(self) -> str:
        """What it has written so far."""
        return self.log.read_text(errors="replace")

    def processEnded(self, reason) -> None:
        self.exit_code = reason.value.exitCode
        self.running = False
        waiters, self._end_waiters = self._end_waiters, []
        for waiter in waiters:
            waiter.callback(self.exit_code)

    async def banner(self, reactor) -> str:
        """
        The first URI its banner names, once the banner is complete.

        @raise RuntimeError: if it ends, or prints no banner within
            L{START_SECONDS}.
        """
        deadline = reactor.seconds() + START_SECONDS
        while self.running and reactor.seconds() < deadline:
            output = self.output
            if "Event Server started." in output:
                return re.search(r"URI= (\S+)", output).group(1)
            await sleep(reactor, 0.05)
        raise RuntimeError(f"the server printed no banner:\n{self.output}")

    async def stop(self, reactor) -> Optional[int]:
        """
        SIGTERM the server (by its PID) and wait for it to end; SIGKILL it
        if it has not within L{WAIT_SECONDS}.  Its exit code, None if a
        signal ended it.
        """
        if self.running:
            os.kill(self.transport.pid, signal.SIGTERM)
            try:
                await within(reactor, self._when_ended(), WAIT_SECONDS)
            except TimeoutError:
                os.kill(self.transport.pid, signal.SIGKILL)
                await within(reactor, self._when_ended(), KILL_SECONDS)
        return self.exit_code

    def _when_ended(self) -> Deferred:
        """A new Deferred that fires once the process has ended (each wait
        its own, so one timing out leaves the next be)."""
        if not self.running:
            return succeed(self.exit_code)
        waiter: Deferred = Deferred()
        self._end_waiters.append(waiter)
        return waiter


async def start_server(reactor, twistd: str) -> tuple[ServerProcess, str]:
    """
    Start C{twistd -n eventd} on a free loopback port with L{SERVER_OPTIONS},
    in a directory of its own (twistd puts its working directory on
    sys.path, and the checkout must not shadow the installed package),
    logging to C{eventd.log} there.
    """
    workdir = Path(tempfile.mkdtemp(prefix="eventd-fuzz-"))
    process = ServerProcess(workdir / "eventd.log")
    argv = [twistd, "-n", "--pidfile=", "eventd", "-p", "0", *SERVER_OPTIONS]
    with open(process.log, "wb") as log:
        reactor.spawnProcess(process, twistd, argv, env=dict(os.environ), path=str(workdir),
                             childFDs={0: "w", 1: log.fileno(), 2: log.fileno()})
    try:
        uri = await process.banner(reactor)
    except Exception:
        await process.stop(reactor)
        raise
    return process, uri


# Reporting.

def figures(result: FuzzResult) -> list[str]:
    """The run's figures, one line each, as printed."""
    tally, pair, stats = result.tally, result.pair, result.stats or {}
    closed = sum(tally.closed.values())
    lines = [
        f"boxes sent: {result.boxes} ({result.sent_bytes} bytes): {_counts(result.sent)}",
        f"connections closed by the server: {closed}: {_counts(tally.closed)}",
        f"connections that could not connect: {tally.connect_failures}",
        f"received by the fuzzing connections: {tally.boxes} boxes: {tally.answers} answers, "
        f"{sum(tally.errors.values())} errors ({_counts(tally.errors)}), {tally.deliveries} deliveries, "
        f"{tally.heartbeats} heartbeats",
        f"final round trip: {'ok' if result.round_trip_error is None else 'FAILED: ' + result.round_trip_error}",
        f"innocent pair: {pair.sent} sent, {pair.received} received, {pair.missing} missing, "
        f"{pair.out_of_order} out of order, {pair.publish_failures} publishes failed",
    ]
    if result.stats is None:
        lines.append("server stats: not answered")
    else:
        lines += [
            f"server refused (by code): {_counts(stats['refused'])}",
            f"server closed (by code): {_counts(stats['closed'])}",
            f"server memory_peak_bytes: {stats['memory_peak_bytes']} (budget {stats['memory_budget_bytes']})",
            f"server longest_stall (last minute): {stats['longest_stall']:.3f} s",
            f"server published/delivered/dropped: {stats['published']}/{stats['delivered']}/{stats['dropped']}",
            f"server after the fuzz: {stats['connections']} connections, {stats['subscriptions']} subscriptions, "
            f"{stats['patterns']} patterns, memory_bytes {stats['memory_bytes']}"
            f" ({'; '.join(result.leftovers()) or 'nothing left over'})",
        ]
    return lines


def _counts(counts) -> str:
    """Counts by name, the largest first: C{"UNHANDLED 12, BAD_SUBJECT 3"}."""
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items(), key=lambda item: -item[1])) or "none"


def tracebacks(output: str) -> list[str]:
    """
    The server's tracebacks, for the report: how many of each kind (by
    exception and the functions it went through: each kind is likely one
    bug), then the first of each in full, with the log line that
    introduced it.  Nothing if there are none.
    """
    lines = output.splitlines()
    first: dict[str, list[str]] = {}
    counts: Counter = Counter()
    for n, line in enumerate(lines):
        if "Traceback" not in line:
            continue
        block = lines[max(n - 1, 0) : n + 1]
        for following in islice(lines, n + 1, None):
            if not following.startswith(("\t", " ")):
                break
            block.append(following)
        calls = [text.rsplit(" in ", 1)[-1] for text in block if text.strip().startswith("File ")]
        exception = next((text.strip() for text in reversed(block) if text.strip()), "?")
        kind = f"{exception} in {' > '.join(calls)}"
        counts[kind] += 1
        first.setdefault(kind, block)
    report = [f"{count} x {kind}" for kind, count in counts.most_common()]
    for block in first.values():
        report += ["", *block]
    return report


# The command.

def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--boxes", type=int, default=10_000, help="boxes to send in all (default 10,000)")
    parser.add_argument("--connections", type=int, default=20, help="fuzzing connections at once (default 20)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the random boxes (default 1)")
    parser.add_argument("--seconds", type=float, default=120, help="the most the fuzzing may take (default 120)")
    parser.add_argument("--server", help="fuzz the server at this loopback URI instead of starting one")
    parser.add_argument("--twistd", default=str(Path(sys.executable).parent / "twistd"),
                        help="the twistd that runs eventd (default: the one beside this Python)")
    options = parser.parse_args(argv)
    if options.boxes < 1 or options.connections < 1 or options.seconds <= 0:
        parser.error("--boxes, --connections and --seconds must be positive")
    if options.server:
        try:
            check_loopback(options.server.removeprefix("URI=").strip())
        except ValueError as e:
            parser.error(str(e))
    return options


async def main(reactor, argv: list[str]) -> int:
    """
    Start the server (unless --server names one), fuzz it, stop it, print
    the figures; 1 if anything went wrong, else 0.
    """
    options = parse(argv)
    began = time.monotonic()
    server: Optional[ServerProcess] = None
    if options.server:
        uri = options.server.removeprefix("URI=").strip()
    else:
        server, uri = await start_server(reactor, options.twistd)
    print(f"eventd fuzz: seed {options.seed}, {options.boxes} boxes over {options.connections} connections, "
          f"server {uri} ({'started here' if server else 'given'})", flush=True)
    try:
        result = await fuzz(reactor, uri, options.boxes, options.connections, options.seed, options.seconds)
    finally:
        alive = server is None or server.running
        exit_code = await server.stop(reactor) if server else None
    problems = []
    if result.round_trip_error is not None or not alive:
        problems.append("the server died or stopped answering")
    if not result.pair.unharmed:
        problems.append("the innocent pair lost or reordered events")
    if result.leftovers():
        problems.append("the server kept what closed connections held")
    for line in figures(result):
        print(line)
    print(f"elapsed: {time.monotonic() - began:.1f} s")
    print(f"server still alive at the end: {'yes' if alive and result.round_trip_error is None else 'NO'}"
          f" (round trip {'ok' if result.round_trip_error is None else 'failed'}, "
          f"process {'not ours' if server is None else 'running' if alive else 'EXITED'})")
    if server is not None:
        print(f"server exit code after SIGTERM: {exit_code}")
        found = tracebacks(server.output)
        print(f"Traceback in the server's log: {'YES' if found else 'no'}")
        for line in found:
            print(("    " + line).rstrip())
        print(f"server log: {server.log}")
        if found:
            problems.append("the server logged a traceback")
        if exit_code != 0:
            problems.append(f"the server exited {exit_code} on SIGTERM")
    print("result: " + ("FAILED: " + "; ".join(problems) if problems else "passed"), flush=True)
    return 1 if problems else 0


def log_warnings() -> None:
    """Show the clients' warnings (a lost connection, a Goodbye) on stderr."""
    observer = FilteringLogObserver(textFileLogObserver(sys.stderr), [LogLevelFilterPredicate(LogLevel.warn)])
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)


def run(reactor, argv: list[str]) -> Deferred:
    """For L{react}: L{main}, its status as the process's exit status."""

    async def go() -> None:
        code = await main(reactor, argv)
        if code:
            raise SystemExit(code)

    return ensureDeferred(go())


if __name__ == "__main__":
    log_warnings()
    react(run, [sys.argv[1:]])
