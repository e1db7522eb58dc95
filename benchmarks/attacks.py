"""
Misbehaving clients: how eventd treats an innocent publisher and subscriber
while one client (or, where said, many) attacks the server.

    python benchmarks/attacks.py [--only NAME[,NAME...]] [--seconds S]

For each attack it starts a fresh server (C{twistd -n --pidfile= eventd -p 0},
the twistd beside this Python) and an innocent pair on a subject of its own:
a publisher emitting 500 events/s, each carrying its send time, and a
subscriber timing every event and checking that they arrive in order.  The
pair runs 2 s at rest, then the attack runs in a child process for S seconds
(default 15) while the pair goes on, then everything is stopped by its PID.
It prints one line per step on stderr and the table on stdout;
docs/robustness.md says what each attack does and how to read the table.

Run it with the Python that eventd is installed in.
"""

import argparse
import itertools
import json
import os
import platform
import random
import re
import resource
import select
import selectors
import signal
import socket
import sys
import tempfile
import time
import traceback
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, NamedTuple, Optional

from twisted.internet import defer, task
from twisted.internet.error import ProcessExitedAlready
from twisted.internet.protocol import ProcessProtocol
from twisted.protocols import amp

from eventd.client import EventClient, connect
from eventd.wire.commands import Publish, Subscribe, SubscribeMatch, Unsubscribe, emit_box
from eventd.wire.records import encode_emitted

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchsuite.harness import (  # noqa: E402
    load_average,
    peak_rss_bytes,
    raise_nofile_limit,
    rss_bytes,
    runnable_tasks,
)
from run import eventd_revision  # noqa: E402

MB = 1_000_000
MiB = 1024 * 1024
BIN = Path(sys.executable).parent

PAIR_RATE = 500
"""Events per second the innocent publisher emits."""
REST_SECONDS = 2.0
"""How long the pair runs before the attack: the figures at rest."""
AFTER_SECONDS = 1.0
"""How long the pair goes on after the attack, so a late effect still counts."""
DRAIN_SECONDS = 15.0
"""How long the pair may take to catch up: after an attack's setup, and at
the end."""
START_SECONDS = 30.0
"""The longest wait for a server's banner, a connection, a child's line."""
STOP_SECONDS = 10.0
"""Between SIGTERM and SIGKILL."""
CALL_SECONDS = 30.0
"""The longest wait for one answer of the observer's (Stats)."""
SETUP_SECONDS = 240.0
"""The longest an attack's setup may take (4 and 5 subscribe 100,000 patterns)."""
CONNECT_SECONDS = 5.0

MEMORY_BUDGET = 256 * MiB
"""The servers' --max-memory-bytes: smaller than the default 1 GiB, so that
the attacks can reach it quickly."""
RSS_ALLOWANCE = 100 * MB
"""The issue's target: RSS never above the budget plus this."""
RATE_TARGET = 0.98 * PAIR_RATE
P99_TARGET_MS = 10.0
GAP_TARGET_MS = 250.0

URI_LINE = re.compile(r"URI= (\S+)")
READY = "ready"
"""What an attacker prints when its setup is done."""
GO = b"go\n"
"""What the main process then writes to its stdin, to start the attack."""


# The attackers' side: raw connections, no Twisted, in a process of their own
# so that the attack's own work does not slow the pair's reactor.


class Answer(NamedTuple):
    """
    The answer to a request: how long it took, and its error code if it was
    refused.
    """

    seconds: float
    code: Optional[str]


class BoxParser:
    """
    Splits the bytes a server sends into AMP boxes (docs/protocol.md,
    section 2): an attacker must read what it is sent, answers and Goodbyes,
    without a reactor.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._box: dict[bytes, bytes] = {}

    def feed(self, data: bytes) -> list[dict[bytes, bytes]]:
        """
        The boxes completed by C{data}; a box still incomplete is kept for
        the next call.
        """
        buffer = self._buffer
        buffer += data
        boxes = []
        box = self._box
        position, end = 0, len(buffer)
        while end - position >= 2:
            key_length = (buffer[position] << 8) | buffer[position + 1]
            if key_length == 0:
                boxes.append(box)
                box = {}
                position += 2
                continue
            value_at = position + 2 + key_length
            if end - value_at < 2:
                break
            value_length = (buffer[value_at] << 8) | buffer[value_at + 1]
            if end - value_at - 2 < value_length:
                break
            box[bytes(buffer[position + 2 : value_at])] = bytes(
                buffer[value_at + 2 : value_at + 2 + value_length]
            )
            position = value_at + 2 + value_length
        del buffer[:position]
        self._box = box
        return boxes


class RawPeer:
    """
    One raw connection of an attacker.  What it sends waits in an outbox of
    memoryviews, so a thousand connections sending one big buffer share it
    instead of copying it.  What the server sends is read (unless reading is
    stopped, for a subscriber that never reads) and counted: answers, error
    codes, the code of a Goodbye.  Heartbeats are answered, as any client
    must, so that a connection lasts for what it does and not for being
    silent.
    """

    def __init__(self, wire: "Wire", sock: socket.socket) -> None:
        self.sock = sock
        self.outbox: deque[memoryview] = deque()
        self.pending = 0
        self.sent_bytes = 0
        self.reading = True
        self.closed = False
        self.answered = 0
        self.errors: Counter[str] = Counter()
        self.answers: dict[bytes, Answer] = {}
        self.goodbye: Optional[str] = None
        self._wire = wire
        self._parser = BoxParser()
        self._asked: dict[bytes, float] = {}
        self._tags = itertools.count(1)

    def send(self, data: bytes) -> None:
        """
        Queue bytes to send, and send what the socket takes now.
        """
        if self.closed:
            return
        self.outbox.append(memoryview(data))
        self.pending += len(data)
        self.flush()
        self._wire.watch(self)

    def ask(self, box: amp.AmpBox) -> bytes:
        """
        Send a request with a tag of its own; its answer will be in
        L{answers} under that tag.
        """
        tag = b"%x" % next(self._tags)
        box[amp.ASK] = tag
        self._asked[tag] = time.monotonic()
        self.send(box.serialize())
        return tag

    def flush(self) -> None:
        """
        Send what the socket takes now, without waiting.
        """
        outbox = self.outbox
        while outbox and not self.closed:
            try:
                sent = self.sock.send(outbox[0][: 256 * 1024])
            except BlockingIOError:
                return
            except OSError:
                self.close()
                return
            self.pending -= sent
            self.sent_bytes += sent
            if sent == len(outbox[0]):
                outbox.popleft()
            else:
                outbox[0] = outbox[0][sent:]

    def receive(self) -> None:
        """
        Read what the server sent and handle the boxes it completes; an end
        of stream (the server closed the connection) closes our side.
        """
        try:
            data = self.sock.recv(256 * 1024)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close()
            return
        for box in self._parser.feed(data):
            self._handle(box)

    def _handle(self, box: dict[bytes, bytes]) -> None:
        tag = box.get(amp.ANSWER) or box.get(amp.ERROR)
        if tag is not None:
            self.answered += 1
            code = box.get(amp.ERROR_CODE)
            if code is not None:
                code = code.decode("ascii", "replace")
                self.errors[code] += 1
            asked = self._asked.pop(tag, None)
            if asked is not None:
                self.answers[tag] = Answer(time.monotonic() - asked, code)
            return
        command = box.get(amp.COMMAND)
        if command == b"goodbye":
            self.goodbye = box.get(b"code", b"?").decode("ascii", "replace")
        elif command == b"heartbeat" and amp.ASK in box:
            self.send(amp.AmpBox({amp.ANSWER: box[amp.ASK]}).serialize())

    def close(self) -> None:
        """
        Close the connection, once the selector has forgotten it: a socket
        closed first would leave its number, soon reused, registered.
        """
        if not self.closed:
            self.closed = True
            self.outbox.clear()
            self.pending = 0
            self._wire.forget(self)
            self.sock.close()


class Wire:
    """
    All the raw connections of one attacker, served by one selector: a
    loop that sends and reads for every connection until a condition holds
    or a deadline passes.  Every wait of an attacker goes through L{serve},
    so every wait is bounded in time.
    """

    def __init__(self, address: tuple[str, int]) -> None:
        self.address = address
        self.peers: list[RawPeer] = []
        self._selector = selectors.DefaultSelector()
        self._watched: dict[RawPeer, int] = {}

    def connect(self, receive_buffer: Optional[int] = None) -> RawPeer:
        """
        A new connection to the server (C{receive_buffer}: a small kernel
        receive buffer, set before connecting, for a subscriber that must
        not hide a backlog in its kernel).

        @raise OSError: if it cannot connect.
        """
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if receive_buffer:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
        try:
            sock.settimeout(CONNECT_SECONDS)
            sock.connect(self.address)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        peer = RawPeer(self, sock)
        self.peers.append(peer)
        self.watch(peer)
        return peer

    def stop_reading(self, peer: RawPeer) -> None:
        peer.reading = False
        self.watch(peer)

    def serve(self, until: Callable[[], bool], deadline: float) -> bool:
        """
        Send and read for every connection until C{until()} holds (True) or
        C{deadline} (time.monotonic) passes (False).
        """
        while not until():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            for key, mask in self._selector.select(min(remaining, 0.05)):
                peer = key.data
                if mask & selectors.EVENT_WRITE:
                    peer.flush()
                if mask & selectors.EVENT_READ:
                    peer.receive()
                self.watch(peer)
        return True

    def ask(self, peer: RawPeer, box: amp.AmpBox, deadline: float) -> Optional[Answer]:
        """
        Send a request and wait for its answer; None if none came by the
        deadline or the connection was closed.
        """
        tag = peer.ask(box)
        self.serve(lambda: tag in peer.answers or peer.closed, deadline)
        return peer.answers.pop(tag, None)

    def close(self) -> None:
        for peer in self.peers:
            peer.close()
        self._selector.close()

    def watch(self, peer: RawPeer) -> None:
        """
        Have the selector watch what C{peer} waits for now: reading, unless
        stopped, and writing while its outbox holds something.
        """
        if peer.closed:
            return
        wanted = (selectors.EVENT_READ if peer.reading else 0) | (
            selectors.EVENT_WRITE if peer.outbox else 0
        )
        watched = self._watched.get(peer, 0)
        if wanted == watched:
            return
        if not watched:
            self._selector.register(peer.sock, wanted, peer)
            self._watched[peer] = wanted
        elif not wanted:
            self.forget(peer)
        else:
            self._selector.modify(peer.sock, wanted, peer)
            self._watched[peer] = wanted

    def forget(self, peer: RawPeer) -> None:
        """
        Stop watching C{peer}'s socket (before it is closed).
        """
        if self._watched.pop(peer, 0):
            self._selector.unregister(peer.sock)


def request(command: type[amp.Command], **arguments: Any) -> amp.AmpBox:
    """
    A command's box as a client sends it, without its tag: built by the
    command's own schema, so it is what the server expects, byte for byte.
    """
    box = command.makeArguments(arguments, None)
    box[amp.COMMAND] = command.commandName
    return box


def begin_attack(wire: Wire) -> None:
    """
    Say that the setup is done, then wait (serving the connections, for a
    bounded time) until the main process says go.  It first lets the pair
    catch up with whatever the setup held back, so that the attack's
    figures are the attack's own.
    """
    print(json.dumps({"phase": READY}), flush=True)
    told = wire.serve(
        lambda: bool(select.select([sys.stdin], [], [], 0)[0]), time.monotonic() + SETUP_SECONDS
    )
    if told:
        sys.stdin.readline()


def closings(peers: list[RawPeer]) -> dict[str, int]:
    """
    How the server's Goodbyes to these connections were spread over codes,
    and how many it closed without one.
    """
    codes = Counter(peer.goodbye or "closed without Goodbye" for peer in peers if peer.closed)
    return dict(sorted(codes.items()))


OPEN_BATCH = 20
"""Connections opened at once.  The server listens with Twisted's default
backlog of 50: a faster burst overflows it, and each connection the kernel
then turns away costs a 1 s SYN retransmission, which would measure the
kernel rather than the server."""
OPEN_PAUSE = 0.01
"""Seconds of serving the open connections between two batches."""


def open_connections(
    wire: Wire,
    count: int,
    end: float,
    opened: Callable[[RawPeer], None] = lambda peer: None,
    enough: Callable[[], bool] = lambda: False,
) -> tuple[list[RawPeer], int]:
    """
    Open up to C{count} connections, L{OPEN_BATCH} at a time, until C{end}
    or until C{enough()}; C{opened} is called with each.  Returns them, and
    how many could not be opened.
    """
    peers: list[RawPeer] = []
    failures = 0
    while len(peers) + failures < count and time.monotonic() < end and not enough():
        for _ in range(min(OPEN_BATCH, count - len(peers) - failures)):
            try:
                peer = wire.connect()
            except OSError:
                failures += 1
                continue
            peers.append(peer)
            opened(peer)
        wire.serve(lambda: False, min(end, time.monotonic() + OPEN_PAUSE))
    return peers, failures


# The attacks, each run in the attacker's process.  Each gets the wire to the
# server and its time, and returns what it saw, for the notes under the table.


def stopped_subscriber(wire: Wire, seconds: float) -> dict[str, Any]:
    """
    Attack 1's publisher: beside a subscriber of everything that the main
    process stopped with SIGSTOP, a block-mode publisher publishes 1 KiB
    events, each waiting for its answer.  Its slowest answer is how long the
    stopped subscriber held it.
    """
    publisher = wire.connect()
    begin_attack(wire)
    end = time.monotonic() + seconds
    box = request(Publish, subjects=["load.kib"], codec="raw", payload=b"k" * 1024)
    held = []
    while time.monotonic() < end and not publisher.closed:
        asked = time.monotonic()
        answer = wire.ask(publisher, box, end)
        held.append(answer.seconds if answer else time.monotonic() - asked)
        if answer is None:
            break
    return {
        "1 KiB publishes": len(held),
        "publisher held at most (s)": round(max(held, default=0.0), 2),
    }


def huge_emit(wire: Wire, seconds: float) -> dict[str, Any]:
    """
    One Emit record naming 20,000 subjects with a 500 KB message, sent again
    and again as fast as the server reads it: if accepted, each would make
    10 GB of events.
    """
    subjects = [f"huge.{n}" for n in range(20_000)]
    box = emit_box([encode_emitted(subjects, "raw", b"h" * 500_000)])
    peer = wire.connect()
    begin_attack(wire)
    end = time.monotonic() + seconds
    queued = 0
    while time.monotonic() < end and not peer.closed:
        peer.send(box)
        queued += 1
        wire.serve(lambda: peer.pending < len(box) or peer.closed, end)
    unsent = -(-peer.pending // len(box))
    return {"Emit boxes sent": queued - unsent, "box bytes": len(box), "closed": peer.closed}


HEAVY_PATTERN = r"\pL{%d}x%d"
"""About 48,000 RE2 instructions from a pattern of 14 characters."""
NEAR_LIMIT_PATTERN = r"\w{240}r%dn%d"
"""About 1,940 instructions: just under the default --max-pattern-size of
2,000, so 1,000 of them fit the default --max-pattern-instructions."""


def heavy_patterns(wire: Wire, seconds: float) -> dict[str, Any]:
    """
    SubscribeMatch calls of small patterns whose RE2 programs are large, in
    rounds: 2,500 \\pL{40}-like patterns in one call (as the issue has it);
    then, the server's per-call limit being 1,000, 1,000 of them; then 1,000
    patterns just under the size limit, which the server accepts, and an
    Unsubscribe of those.  Each call waits for its answer; the slowest answer
    of each kind says how long the server worked on it.
    """
    peer = wire.connect()
    begin_attack(wire)
    end = time.monotonic() + seconds
    calls: dict[str, list[Answer]] = {}

    def call(kind: str, box: amp.AmpBox) -> Optional[Answer]:
        answer = wire.ask(peer, box, end)
        if answer is not None:
            calls.setdefault(kind, []).append(answer)
        return answer

    for round_ in itertools.count():
        if time.monotonic() >= end or peer.closed:
            break
        heavy = [HEAVY_PATTERN % (40 + n % 20, round_ * 10_000 + n) for n in range(2_500)]
        call("SubscribeMatch of 2,500 \\pL{40}", request(SubscribeMatch, patterns=heavy))
        call("SubscribeMatch of 1,000 \\pL{40}", request(SubscribeMatch, patterns=heavy[:1_000]))
        near = [NEAR_LIMIT_PATTERN % (round_, n) for n in range(1_000)]
        answer = call("SubscribeMatch of 1,000 near the size limit", request(SubscribeMatch, patterns=near))
        if answer is not None and answer.code is None:
            call("Unsubscribe of those 1,000", request(Unsubscribe, subjects=near))
    return {
        kind: f"{len(answers)} calls, "
        + ", ".join(f"{code or 'OK'} {n}" for code, n in Counter(a.code for a in answers).items())
        + f", slowest answer {max(a.seconds for a in answers) * 1000:.0f} ms"
        for kind, answers in calls.items()
    }


HOLDERS = 10
PATTERNS_PER_CALL = 1_000
CALLS_PER_HOLDER = 11
"""One call more than the default --max-subscriptions (10,000) allows."""


def hold_patterns(wire: Wire) -> dict[str, Any]:
    """
    The setup of attacks 4 and 5: ten connections subscribe patterns
    C{^p<n>\\.}, 1,000 a call, until the server refuses (each connection
    sends one call more than --max-subscriptions allows).  They keep reading
    and answering heartbeats afterwards, as well-behaved holders.
    """
    holders = [wire.connect() for _ in range(HOLDERS)]
    started = time.monotonic()
    asked = []
    for number, holder in enumerate(holders):
        for call in range(CALLS_PER_HOLDER):
            first = (number * CALLS_PER_HOLDER + call) * PATTERNS_PER_CALL
            patterns = [rf"^p{n}\." for n in range(first, first + PATTERNS_PER_CALL)]
            asked.append((holder, holder.ask(request(SubscribeMatch, patterns=patterns))))
    wire.serve(
        lambda: all(tag in holder.answers or holder.closed for holder, tag in asked),
        started + SETUP_SECONDS,
    )
    answers = [holder.answers[tag] for holder, tag in asked if tag in holder.answers]
    return {
        "patterns held": PATTERNS_PER_CALL * sum(a.code is None for a in answers),
        "setup (s)": round(time.monotonic() - started, 1),
        "setup refusals": dict(Counter(a.code for a in answers if a.code)),
    }


def pattern_churn(wire: Wire, seconds: float) -> dict[str, Any]:
    """
    With the patterns held, one client adds a new pattern and removes it
    again, in a loop, each call waiting for its answer.
    """
    figures = hold_patterns(wire)
    churner = wire.connect()
    begin_attack(wire)
    end = time.monotonic() + seconds
    answers: list[Answer] = []
    for cycle in itertools.count():
        if time.monotonic() >= end or churner.closed:
            break
        pattern = rf"^churn{cycle}\."
        for box in (request(SubscribeMatch, patterns=[pattern]), request(Unsubscribe, subjects=[pattern])):
            answer = wire.ask(churner, box, end)
            if answer is not None:
                answers.append(answer)
    figures.update(
        {
            "add+remove cycles": len(answers) // 2,
            "refused": dict(Counter(a.code for a in answers if a.code)),
            "slowest churn answer (ms)": round(max((a.seconds for a in answers), default=0.0) * 1000, 1),
        }
    )
    return figures


RANDOM_BATCH = 1_000
"""Publishes per Emit box of the random-subject publisher."""
RANDOM_BOX_BYTES = 25_000
"""About the size of one such box (a record is about 25 bytes)."""


def random_subjects(wire: Wire, seconds: float) -> dict[str, Any]:
    """
    With the patterns held, one client emits publishes on random subjects
    (C{p<n>-<hex>}, which no pattern matches) as fast as the server takes
    them: every subject is new, so each one is matched against every
    pattern, and the broker's memory of subjects is refilled over and over.
    """
    figures = hold_patterns(wire)
    emitter = wire.connect()
    rng = random.Random(1)
    begin_attack(wire)
    end = time.monotonic() + seconds
    emitted = 0
    while time.monotonic() < end and not emitter.closed:
        records = [
            encode_emitted([f"p{rng.randrange(10**6)}-{rng.getrandbits(32):08x}"], "raw", b"")
            for _ in range(RANDOM_BATCH)
        ]
        emitter.send(emit_box(records))
        emitted += RANDOM_BATCH
        # Build the next box while the server reads this one.
        wire.serve(lambda: emitter.pending < RANDOM_BOX_BYTES or emitter.closed, end)
    unsent = -(-emitter.pending // RANDOM_BOX_BYTES) * RANDOM_BATCH
    figures["random publishes sent (about)"] = emitted - unsent
    return figures


FLOOD_REQUESTS = 1_000_000
FLOOD_CHUNK = 1_000
"""Requests written at a time."""
FLOOD_BUFFER = 256 * 1024
"""The flooder writes more once fewer bytes than this wait to be sent."""


def pipelined_flood(wire: Wire, seconds: float) -> dict[str, Any]:
    """
    One connection pipelines a million tiny requests (Subscribe of one
    subject, each with its own tag) and reads the answers.
    """
    box = request(Subscribe, subjects=["flood.subject"])
    box[amp.ASK] = b"TAGTAGTA"
    head, tail = box.serialize().split(b"TAGTAGTA")
    peer = wire.connect()
    begin_attack(wire)
    started = time.monotonic()
    end = started + seconds
    sent = 0
    while sent < FLOOD_REQUESTS and time.monotonic() < end and not peer.closed:
        count = min(FLOOD_CHUNK, FLOOD_REQUESTS - sent)
        peer.send(b"".join(head + b"%08x" % n + tail for n in range(sent, sent + count)))
        sent += count
        wire.serve(lambda: peer.pending < FLOOD_BUFFER or peer.closed, end)
    unsent = peer.pending // (len(head) + 8 + len(tail))
    wire.serve(lambda: peer.answered >= sent - unsent or peer.closed, end)
    return {
        "requests sent": sent - unsent,
        "answered": peer.answered,
        "answers/s": round(peer.answered / (time.monotonic() - started)),
        "errors": dict(peer.errors),
        "closed": peer.closed,
    }


UNFINISHED_CONNECTIONS = 1_000
UNFINISHED_BYTES = 1_100_000
"""Of a Publish box of 1,114,095 payload bytes: under the box limit (message
limit + 128 KiB), so the server keeps every byte."""


def unfinished_boxes(wire: Wire, seconds: float) -> dict[str, Any]:
    """
    A thousand connections each send 1.1 MB of a big Publish box and never
    end it.
    """
    box = request(Publish, subjects=["unfinished"], codec="raw", payload=b"u" * (17 * 65_535))
    box[amp.ASK] = b"1"
    data = box.serialize()[:UNFINISHED_BYTES]
    begin_attack(wire)
    end = time.monotonic() + seconds
    peers, failures = open_connections(wire, UNFINISHED_CONNECTIONS, end, lambda peer: peer.send(data))
    wire.serve(lambda: False, end)
    return {
        "connections": len(peers),
        "connect failures": failures,
        "MB sent": round(sum(p.sent_bytes for p in peers) / MB),
        "closed by the server": closings(peers),
    }


BAD_EMIT_CONNECTIONS = 2_000


def bad_emits(wire: Wire, seconds: float) -> dict[str, Any]:
    """
    Two thousand connections each send one one-way Emit whose publishes are
    not MessagePack (the byte 0xc1, which MessagePack never uses), and stay
    connected.
    """
    box = emit_box([b"\xc1"])
    begin_attack(wire)
    end = time.monotonic() + seconds
    peers, failures = open_connections(wire, BAD_EMIT_CONNECTIONS, end, lambda peer: peer.send(box))
    wire.serve(lambda: False, end)
    return {
        "connections": len(peers),
        "connect failures": failures,
        "closed by the server": closings(peers),
    }


STALLED_SUBSCRIBERS = 10
BIG_MESSAGE = MiB


def stalled_drop_subscribers(wire: Wire, seconds: float) -> dict[str, Any]:
    """
    On a drop-mode server, ten subscribers (4 KiB kernel receive buffers)
    subscribe and never read again; a publisher publishes 1 MiB events to
    them, each waiting for its answer.
    """
    deadline = time.monotonic() + SETUP_SECONDS
    subscribers = [wire.connect(receive_buffer=4096) for _ in range(STALLED_SUBSCRIBERS)]
    for subscriber in subscribers:
        wire.ask(subscriber, request(Subscribe, subjects=["big.events"]), deadline)
        wire.stop_reading(subscriber)
    publisher = wire.connect()
    box = request(Publish, subjects=["big.events"], codec="raw", payload=b"b" * BIG_MESSAGE)
    begin_attack(wire)
    end = time.monotonic() + seconds
    answers = []
    while time.monotonic() < end and not publisher.closed:
        answer = wire.ask(publisher, box, end)
        if answer is None:
            break
        answers.append(answer)
    return {
        "1 MiB publishes answered": len(answers),
        "refused": dict(Counter(a.code for a in answers if a.code)),
        "slowest answer (ms)": round(max((a.seconds for a in answers), default=0.0) * 1000),
        "subscribers closed by the server": closings(subscribers),
    }


def connection_flood(wire: Wire, seconds: float) -> dict[str, Any]:
    """
    Open connections until the server refuses one (it accepts, says Goodbye
    MAX_CONNECTIONS and closes), then hold them all and knock again every
    100 ms until the time is up.  Bounded by this process's file limit.
    """
    most = resource.getrlimit(resource.RLIMIT_NOFILE)[0] - 100
    begin_attack(wire)
    started = time.monotonic()
    end = started + seconds
    refusals: list[RawPeer] = []

    def refused() -> bool:
        refusals[:] = [peer for peer in wire.peers if peer.goodbye == "MAX_CONNECTIONS"]
        return bool(refusals)

    _, failures = open_connections(wire, most, end, enough=refused)
    first_refusal = time.monotonic() - started
    wire.serve(lambda: False, min(end, time.monotonic() + 0.5))
    held = sum(1 for peer in wire.peers if not peer.closed)
    while time.monotonic() < end and len(wire.peers) < most:
        failures += open_connections(wire, 1, end)[1]
        wire.serve(lambda: False, min(end, time.monotonic() + 0.1))
    refused()
    return {
        "connections held": held,
        "opened until the first refusal (s)": round(first_refusal, 1),
        "refused (MAX_CONNECTIONS)": len(refusals),
        "connect failures": failures,
        "held at the end": sum(1 for peer in wire.peers if not peer.closed),
    }


# The main process: the server, the pair and the measurements, on Twisted.


class Child(ProcessProtocol):
    """
    A process this script started: its output as lines, how many bytes it
    wrote (a server's log volume), and its end.  It is stopped by its own
    PID, never by name.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self.output_bytes = 0
        self.lines: list[str] = []
        self.ended = False
        self._partial = b""
        self._line_waiters: list[tuple[Callable[[str], bool], defer.Deferred]] = []
        self._end_waiters: list[defer.Deferred] = []

    def outReceived(self, data: bytes) -> None:
        self._take(data)

    def errReceived(self, data: bytes) -> None:
        self._take(data)

    def _take(self, data: bytes) -> None:
        self.output_bytes += len(data)
        *whole, self._partial = (self._partial + data).split(b"\n")
        for raw in whole:
            line = raw.decode("utf-8", "replace")
            self.lines.append(line)
            for waiter in [w for w in self._line_waiters if w[0](line)]:
                self._line_waiters.remove(waiter)
                if not waiter[1].called:  # it may have timed out
                    waiter[1].callback(line)

    def when_line(self, wanted: Callable[[str], bool]) -> defer.Deferred:
        """
        A Deferred firing with the first line (from now on, or already
        printed) for which C{wanted} holds; it fails if the process ends
        first.
        """
        for line in self.lines:
            if wanted(line):
                return defer.succeed(line)
        if self.ended:
            return defer.fail(RuntimeError(f"{self.name} ended:\n{self.tail()}"))
        waiter: defer.Deferred = defer.Deferred()
        self._line_waiters.append((wanted, waiter))
        return waiter

    def processEnded(self, reason) -> None:
        self.ended = True
        waiters, self._line_waiters = self._line_waiters, []
        for _, waiter in waiters:
            if not waiter.called:  # it may have timed out
                waiter.errback(RuntimeError(f"{self.name} ended:\n{self.tail()}"))
        ended, self._end_waiters = self._end_waiters, []
        for waiter in ended:
            if not waiter.called:
                waiter.callback(None)

    def tail(self, count: int = 15) -> str:
        return "\n".join(self.lines[-count:])

    @property
    def pid(self) -> int:
        return self.transport.pid

    def signal(self, number: int) -> None:
        try:
            self.transport.signalProcess(number)
        except ProcessExitedAlready:
            pass

    async def stop(self, reactor) -> None:
        """
        SIGTERM, and SIGKILL if it has not ended within L{STOP_SECONDS}.  A
        stopped process (SIGSTOP) is continued first: it could not act on
        SIGTERM.
        """
        for number in (signal.SIGCONT, signal.SIGTERM, signal.SIGKILL):
            if self.ended:
                return
            self.signal(number)
            if number == signal.SIGCONT:
                continue
            ended: defer.Deferred = defer.Deferred()
            self._end_waiters.append(ended)
            try:
                await ended.addTimeout(STOP_SECONDS, reactor)
            except defer.TimeoutError:
                progress(f"  {self.name} (pid {self.pid}) did not end on signal {number}")


STARTED: list[Child] = []
"""Every process this script started, so that none outlives it."""


def spawn(reactor, name: str, argv: list[str], cwd: Optional[str] = None) -> Child:
    child = Child(name)
    reactor.spawnProcess(child, argv[0], argv, env=dict(os.environ), path=cwd)
    STARTED.append(child)
    return child


async def stop_all(reactor) -> None:
    """
    Stop whatever this script started and is still running: what an
    interrupted run (Ctrl-C, SIGTERM) leaves behind, from the reactor's
    shutdown.
    """
    for child in reversed(STARTED):
        await child.stop(reactor)


async def sleep(reactor, seconds: float) -> None:
    await task.deferLater(reactor, seconds, lambda: None)


def within(reactor, deferred: defer.Deferred, seconds: float) -> defer.Deferred:
    return deferred.addTimeout(seconds, reactor)


class Delivery(NamedTuple):
    """One event of the pair's: its number, when it was sent, when it came."""

    seq: int
    sent: float
    received: float


@dataclass
class PairFigures:
    """
    What the innocent pair saw during one window of time.
    """

    rate: float
    slowest_second: Optional[int]
    p50_ms: Optional[float]
    p99_ms: Optional[float]
    gap_ms: float


class Pair:
    """
    The innocent publisher and subscriber, on a subject of their own.  The
    publisher emits PAIR_RATE events a second whatever happens (a tick late
    emits the events it owes), each carrying its sequence number and send
    time; it never waits for the server, so an event the server holds back
    shows as latency, not as an event never sent.  The subscriber records
    when each arrives.  Both clocks are this process's perf_counter.
    """

    SUBJECT = "innocent.pair"

    def __init__(self, publisher: EventClient, subscriber: EventClient) -> None:
        self.publisher = publisher
        self.subscriber = subscriber
        self.sent = 0
        self.deliveries: list[Delivery] = []
        self._ticks = task.LoopingCall.withCount(self._emit)

    async def start(self) -> None:
        await self.subscriber.subscribe(self.SUBJECT, self._received)
        self._ticks.start(1 / PAIR_RATE)

    def _emit(self, count: int) -> None:
        for _ in range(count):
            self.publisher.emit(self.SUBJECT, [self.sent, time.perf_counter()])
            self.sent += 1

    def _received(self, event) -> None:
        seq, sent = event.msg
        self.deliveries.append(Delivery(seq, sent, time.perf_counter()))

    def halt(self) -> None:
        """
        Stop publishing, if it still does.
        """
        if self._ticks.running:
            self._ticks.stop()

    async def catch_up(self, reactor, slack: int = 0) -> float:
        """
        Wait (at most L{DRAIN_SECONDS}) until all but C{slack} of the events
        sent have arrived; when that was.
        """
        end = time.monotonic() + DRAIN_SECONDS
        while len(self.deliveries) < self.sent - slack and time.monotonic() < end:
            await sleep(reactor, 0.01)
        return time.perf_counter()

    async def stop(self, reactor) -> None:
        """
        Stop publishing, and wait (a bounded time) for what was sent.
        """
        self.halt()
        await self.catch_up(reactor)

    def lost_and_disordered(self) -> tuple[int, int]:
        """
        Events sent and never received, and events that came after a later
        one (or twice), over the whole run.
        """
        seen: set[int] = set()
        disordered = 0
        last = -1
        for delivery in self.deliveries:
            if delivery.seq <= last:
                disordered += 1
            last = max(last, delivery.seq)
            seen.add(delivery.seq)
        return self.sent - len(seen), disordered

    def figures(self, start: float, end: float, quiet_until: float) -> PairFigures:
        """
        The rate of deliveries between C{start} and C{end} (and in the
        slowest whole second of it: a pair held back, then let through in a
        burst, has a fine average), the latency of the events sent then, and
        the longest time without a delivery from C{start} to C{quiet_until}.
        """
        latencies = sorted(
            d.received - d.sent for d in self.deliveries if start <= d.sent < end
        )
        arrivals = sorted(d.received for d in self.deliveries if start <= d.received < quiet_until)
        moments = [start, *arrivals, quiet_until]
        seconds = Counter(int(t - start) for t in arrivals if t < end)
        whole = int(end - start)
        return PairFigures(
            rate=sum(1 for t in arrivals if t < end) / (end - start),
            slowest_second=min((seconds[n] for n in range(whole)), default=None),
            p50_ms=percentile(latencies, 0.50),
            p99_ms=percentile(latencies, 0.99),
            gap_ms=max(b - a for a, b in itertools.pairwise(moments)) * 1000,
        )


def percentile(values: list[float], fraction: float) -> Optional[float]:
    """The value below which C{fraction} of the sorted C{values} lie, in ms."""
    if not values:
        return None
    return values[min(len(values) - 1, round(fraction * (len(values) - 1)))] * 1000


@dataclass
class Snapshot:
    """
    The server at one moment: its memory, its own figures, its log so far.
    """

    at: float
    rss: int
    peak_rss: int
    stats: dict[str, Any]
    log_bytes: int


async def snapshot(reactor, server: Child, observer: EventClient) -> Snapshot:
    stats = await within(reactor, observer.stats(), CALL_SECONDS)
    return Snapshot(
        time.perf_counter(),
        rss_bytes(server.pid),
        peak_rss_bytes(server.pid),
        stats,
        server.output_bytes,
    )


@dataclass
class Row:
    """
    One row of the table: the pair's figures in one window, the server's
    around it, and what the attacker saw.
    """

    attack: str
    single_client: bool
    pair: Optional[PairFigures] = None
    pair_at_rest: Optional[PairFigures] = None
    lost: int = 0
    disordered: int = 0
    rss_rest: int = 0
    rss_peak: int = 0
    stall_rest_ms: float = 0.0
    stall_ms: float = 0.0
    server_did: str = ""
    log_bytes: int = 0
    attacker: dict[str, Any] = field(default_factory=dict)
    error: Optional[str] = None


def what_the_server_did(before: dict[str, Any], after: dict[str, Any]) -> str:
    """
    Connections the server closed, and requests it refused, by code, between
    two Stats answers.
    """
    parts = []
    for key in ("closed", "refused"):
        grown = Counter(after[key])
        grown.subtract(Counter(before[key]))
        codes = [f"{code} {count:,}" for code, count in sorted(grown.items()) if count > 0]
        if codes:
            parts.append(f"{key} " + ", ".join(codes))
    return "; ".join(parts) or "nothing"


def row_for(
    title: str,
    single_client: bool,
    pair: Pair,
    start: Snapshot,
    end: Snapshot,
    window: tuple[float, float, float],
    rest: Snapshot,
    attacker: dict[str, Any],
) -> Row:
    """
    A row for the pair's window C{(start, end, quiet_until)}, the server's
    figures taken at C{start} and C{end}, and its figures at rest (the
    pair's too: what the attack's figures compare with).
    """
    lost, disordered = pair.lost_and_disordered()
    return Row(
        attack=title,
        single_client=single_client,
        pair=pair.figures(*window),
        pair_at_rest=pair.figures(rest.at - REST_SECONDS / 2, rest.at, rest.at),
        lost=lost,
        disordered=disordered,
        rss_rest=rest.rss,
        rss_peak=end.peak_rss,
        stall_rest_ms=rest.stats["longest_stall"] * 1000,
        stall_ms=end.stats["longest_stall"] * 1000,
        server_did=what_the_server_did(start.stats, end.stats),
        log_bytes=end.log_bytes - start.log_bytes,
        attacker=attacker,
    )


async def stopped_everything_subscriber(reactor, uri: str) -> list[Child]:
    """
    Attack 1's main-process part: C{eventd sub --match '.*'} (the console
    script beside this Python), stopped with SIGSTOP once it has printed its
    first event (the pair's events match it).
    """
    sub = spawn(reactor, "eventd sub", [str(BIN / "eventd"), "sub", "--match", ".*", "--server", uri])
    await within(reactor, sub.when_line(lambda line: True), START_SECONDS)
    sub.signal(signal.SIGSTOP)
    return [sub]


@dataclass(frozen=True)
class Attack:
    """
    One attack: what the attacker process does, the server's options for
    it, and what the main process prepares first.

    @ivar single_client: whether one client misbehaves (the issue's targets
        for the pair are set for those).
    @ivar setup: whether the attacker has a setup phase worth a row of its
        own before the attack proper.
    """

    number: int
    name: str
    attacker: Callable[[Wire, float], dict[str, Any]]
    server_options: tuple[str, ...] = ()
    single_client: bool = True
    setup: bool = False
    prepare: Optional[Callable[[Any, str], Awaitable[list[Child]]]] = None

    @property
    def title(self) -> str:
        return f"{self.number}. {self.name}"


ATTACKS = [
    Attack(1, "stopped-subscriber", stopped_subscriber, prepare=stopped_everything_subscriber),
    Attack(2, "huge-emit", huge_emit),
    Attack(3, "heavy-patterns", heavy_patterns),
    Attack(4, "pattern-churn", pattern_churn, setup=True),
    Attack(5, "random-subjects", random_subjects, setup=True),
    Attack(6, "pipelined-flood", pipelined_flood),
    Attack(7, "unfinished-boxes", unfinished_boxes, single_client=False),
    Attack(8, "bad-emits", bad_emits, single_client=False),
    Attack(
        9,
        "stalled-drop-subscribers",
        stalled_drop_subscribers,
        ("--when-full", "drop"),
        single_client=False,
    ),
    Attack(10, "connection-flood", connection_flood, single_client=False),
]
ATTACKS_BY_NAME = {attack.name: attack for attack in ATTACKS}
SERVER_OPTIONS = ("--max-memory-bytes", str(MEMORY_BUDGET))


def is_json_with(key: str) -> Callable[[str], bool]:
    def wanted(line: str) -> bool:
        try:
            return key in json.loads(line)
        except (ValueError, TypeError):
            return False

    return wanted


async def measure(reactor, attack: Attack, seconds: float) -> list[Row]:
    """
    Run one attack against a fresh server while the pair runs; its row
    (and, for an attack with a setup, the setup's row first).
    """
    options = [*SERVER_OPTIONS, *attack.server_options]
    server = spawn(
        reactor,
        "server",
        [str(BIN / "twistd"), "-n", "--pidfile=", "eventd", "-p", "0", *options],
        # twistd puts its working directory on sys.path: not the checkout.
        cwd=tempfile.mkdtemp(prefix="eventd-attacks-"),
    )
    children = [server]
    clients: list[EventClient] = []
    pair: Optional[Pair] = None
    # How crowded the 2 cores were: the server, the attacker and this
    # process make 3 at most; more means something else ran too.
    runnable: list[int] = []
    try:
        banner = await within(reactor, server.when_line(URI_LINE.search), START_SECONDS)
        uri = URI_LINE.search(banner).group(1)
        progress(f"{attack.title}: server pid {server.pid} at {uri}, options {' '.join(options)}")
        for _ in range(3):
            clients.append(await within(reactor, connect(uri), START_SECONDS))
        observer, publisher, subscriber = clients
        pair = Pair(publisher, subscriber)
        await pair.start()
        await sleep(reactor, REST_SECONDS)
        rest = await snapshot(reactor, server, observer)
        if attack.prepare is not None:
            children += await attack.prepare(reactor, uri)
        attacker = spawn(
            reactor,
            f"attacker {attack.name}",
            [sys.executable, os.path.abspath(__file__), "--attacker", attack.name,
             "--server", uri, "--seconds", str(seconds)],
        )
        children.append(attacker)
        await within(reactor, attacker.when_line(is_json_with("phase")), SETUP_SECONDS + START_SECONDS)
        ready = await snapshot(reactor, server, observer)
        caught_up = await pair.catch_up(reactor, slack=PAIR_RATE // 100)
        attacker.transport.write(GO)
        attacking = await snapshot(reactor, server, observer)
        progress(f"{attack.title}: attacking for {seconds:g} s")
        crowd = task.LoopingCall(lambda: runnable.append(runnable_tasks()))
        crowd.start(0.1)
        line = await within(reactor, attacker.when_line(is_json_with("figures")), seconds + SETUP_SECONDS)
        attack_end = time.perf_counter()
        await sleep(reactor, AFTER_SECONDS)
        end = await snapshot(reactor, server, observer)
        crowd.stop()
        await pair.stop(reactor)
    finally:
        if pair is not None:
            pair.halt()
        for client in reversed(clients):
            await quietly(within(reactor, client.close(), STOP_SECONDS))
        for child in reversed(children):
            await child.stop(reactor)
    figures = json.loads(line)["figures"]
    rows = []
    if attack.setup:
        setup = {key: figures.pop(key) for key in list(figures) if key.startswith(SETUP_FIGURES)}
        window = (rest.at, ready.at, caught_up)
        # The setup is ten connections subscribing: many clients.
        rows.append(row_for(f"{attack.title} (setup)", False, pair, rest, ready, window, rest, setup))
    window = (attacking.at, attack_end, end.at)
    figures["runnable tasks (mean)"] = round(sum(runnable) / len(runnable), 1)
    rows.append(row_for(attack.title, attack.single_client, pair, attacking, end, window, rest, figures))
    return rows


SETUP_FIGURES = ("patterns held", "setup")
"""The figures of L{hold_patterns}: they go with the setup's row."""


async def quietly(deferred: defer.Deferred) -> None:
    """
    Wait for C{deferred}, whatever its outcome: for the cleaning up that
    must go on to its end even if one step of it fails.
    """
    try:
        await deferred
    except Exception as error:
        progress(f"  while cleaning up: {type(error).__name__}: {error}")


# The report.

COLUMNS = (
    "attack", "pair ev/s (slowest second)", "p50 ms", "p99 ms", "max gap ms", "lost / out of order",
    "RSS rest MB", "RSS peak MB", "longest stall ms (rest → end)", "server did to the attacker",
    "log KB",
)


def number(value: Optional[float], digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def cells(row: Row) -> list[str]:
    if row.error is not None:
        return [row.attack, "error", *[""] * (len(COLUMNS) - 2)]
    pair = row.pair
    return [
        row.attack,
        f"{number(pair.rate)} ({number(pair.slowest_second)})",
        number(pair.p50_ms, 1),
        number(pair.p99_ms, 1),
        number(pair.gap_ms),
        f"{row.lost} / {row.disordered}",
        number(row.rss_rest / MB),
        number(row.rss_peak / MB),
        f"{number(row.stall_rest_ms)} → {number(row.stall_ms)}",
        row.server_did,
        number(row.log_bytes / 1000, 1),
    ]


def markdown(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    lines += ["| " + " | ".join(cells(row)) + " |" for row in rows]
    return "\n".join(lines)


def notes(rows: list[Row]) -> str:
    """
    What each attacker saw, and the errors: one line per row.
    """
    lines = []
    for row in rows:
        if row.error is not None:
            lines.append(f"- {row.attack}: ERROR {row.error}")
        else:
            rest = row.pair_at_rest
            text = "; ".join(
                [f"{key}: {value}" for key, value in row.attacker.items()]
                + [f"the pair at rest: p50 {number(rest.p50_ms, 1)} ms, p99 {number(rest.p99_ms, 1)} ms"]
            )
            lines.append(f"- {row.attack}: {text}")
    return "\n".join(lines)


def targets(rows: list[Row]) -> str:
    """
    The issue's targets, met or missed, with the figure that decides.
    """
    limit = MEMORY_BUDGET + RSS_ALLOWANCE
    lines = []
    for row in rows:
        if row.error is not None:
            continue
        pair = row.pair
        checks = [
            (
                "rate",
                pair.slowest_second is not None and pair.slowest_second >= RATE_TARGET,
                f"{pair.rate:,.0f}/s, slowest second {number(pair.slowest_second)}",
            ),
            ("p99", pair.p99_ms is not None and pair.p99_ms < P99_TARGET_MS, f"{number(pair.p99_ms, 1)} ms"),
            ("gap", pair.gap_ms <= GAP_TARGET_MS, f"{pair.gap_ms:,.0f} ms"),
            ("RSS", row.rss_peak <= limit, f"{row.rss_peak / MB:,.0f} MB"),
        ]
        kind = "single client" if row.single_client else "many clients"
        text = ", ".join(f"{name} {'met' if ok else 'MISSED'} ({figure})" for name, ok, figure in checks)
        lines.append(f"- {row.attack} ({kind}): {text}")
    return (
        f"Targets: pair rate >= {RATE_TARGET:.0f}/s in every second, p99 < {P99_TARGET_MS:g} ms, no gap over "
        f"{GAP_TARGET_MS:g} ms (set for single-client attacks); peak RSS <= "
        f"{limit / MB:,.0f} MB (the {MEMORY_BUDGET // MiB} MiB budget + 100 MB).\n" + "\n".join(lines)
    )


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def header(argv: list[str], load_at_start: list[float]) -> str:
    """
    The command and the machine: what a reader needs to run it again, and
    the load averages, which say whether anything else shared the 2 cores.
    """
    command = " ".join(["python", "benchmarks/attacks.py", *argv])
    return (
        f"Command: {command}\n"
        f"eventd: commit {eventd_revision()}\n"
        f"Machine: {os.cpu_count()} CPUs, Linux {platform.release()}, Python "
        f"{platform.python_version()}; loopback only; open-file limit "
        f"{resource.getrlimit(resource.RLIMIT_NOFILE)[0]:,}; load average "
        f"{' '.join(map(str, load_at_start))} at the start, "
        f"{' '.join(map(str, load_average()))} at the end\n"
        f"Servers: twistd -n --pidfile= eventd -p 0 {' '.join(SERVER_OPTIONS)} "
        f"(256 MiB budget; otherwise the defaults, but for attack 9's --when-full drop)\n"
    )


async def main(reactor, chosen: list[Attack], seconds: float, argv: list[str]) -> None:
    reactor.addSystemEventTrigger("before", "shutdown", lambda: defer.ensureDeferred(stop_all(reactor)))
    load_at_start = load_average()
    rows: list[Row] = []
    for attack in chosen:
        began = time.monotonic()
        try:
            rows += await measure(reactor, attack, seconds)
        except Exception as error:
            progress(traceback.format_exc())
            rows.append(Row(attack.title, attack.single_client, error=f"{type(error).__name__}: {error}"))
        progress(f"{attack.title}: done in {time.monotonic() - began:.0f} s")
    print(header(argv, load_at_start))
    print(markdown(rows))
    print("\nWhat each attacker saw:\n" + notes(rows))
    print("\n" + targets(rows))


def run_attacker(name: str, uri: str, seconds: float) -> None:
    """
    The attacker process: run one attack against the server at C{uri} and
    print what it saw as one JSON line.
    """
    _, host, port = uri.split(":")
    wire = Wire((host, int(port)))
    try:
        figures = ATTACKS_BY_NAME[name].attacker(wire, seconds)
    finally:
        wire.close()
    print(json.dumps({"figures": figures}), flush=True)


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--only",
        help="comma-separated attack names (default: all): " + ", ".join(ATTACKS_BY_NAME),
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="how long each attack lasts (default 15)")
    parser.add_argument("--attacker", choices=ATTACKS_BY_NAME, help=argparse.SUPPRESS)
    parser.add_argument("--server", help=argparse.SUPPRESS)
    options = parser.parse_args(argv)
    names = [n.strip() for n in (options.only or "").split(",") if n.strip()]
    unknown = set(names) - set(ATTACKS_BY_NAME)
    if unknown:
        parser.error(f"unknown attacks: {', '.join(sorted(unknown))}")
    options.chosen = [ATTACKS_BY_NAME[n] for n in names] if names else ATTACKS
    return options


def stop_on_sigterm() -> None:
    """
    SIGTERM ends an attacker as Ctrl-C would: by an exception, so that its
    connections are closed on the way out.
    """

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)


if __name__ == "__main__":
    arguments = parse(sys.argv[1:])
    # Attacks 7, 8 and 10 hold thousands of sockets, in the attacker and in
    # the server: both inherit this process's limit.
    raise_nofile_limit()
    if arguments.attacker:
        stop_on_sigterm()
        run_attacker(arguments.attacker, arguments.server, arguments.seconds)
    else:
        task.react(
            lambda reactor: defer.ensureDeferred(
                main(reactor, arguments.chosen, arguments.seconds, sys.argv[1:])
            )
        )
