"""
The server's side of a connection: bytes in, calls into the responders;
events out.

L{EventServerProtocol} is an AMP connection made to keep one client from
hurting the others:

  - Box size is bounded.  Boxes are read by a L{BoxReader}, which keeps only
    the routing keys of a box that grows past the message limit; such a box
    is refused with L{MessageTooLarge} once it ends, so the connection stays
    usable and memory stays bounded.  A box begun must end within the read
    timeout.
  - Each connection gets a share of the reactor's time per turn: past it,
    its remaining boxes wait for the next turn, so a client pipelining a
    million requests does not starve the others.
  - Reading can be held, by several parties at once: a publish waiting for
    room in a full queue (block mode), a connection whose share is used,
    and the peer not taking what we send (its answers would otherwise pile
    up in our memory).  While held, no further box is handled, even one
    already received.
  - Its delivery queue is the transport's streaming producer, and the
    connection turns queued events into Deliver boxes.
  - A quiet client is asked for a heartbeat and closed if it does not
    answer; a connection the server closes is first told why (Goodbye).

L{EventServerFactory} holds what the connections share: the broker, the
limits, the memory budget, the counters, and the sweep that finds quiet
and stuck connections.
"""

import socket
import time
from typing import Callable, Iterator, Optional, Sequence

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IHandshakeListener, IReactorTime
from twisted.internet.protocol import ServerFactory
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.protocols import amp
from zope.interface import implementer

from eventd.errors import WIRE_CODES, MessageTooLarge
from eventd.server.boxes import BoxReader, FramingError, OversizedBox
from eventd.server.broker import SubscriptionManager
from eventd.server.config import ServerConfig
from eventd.server.counters import Counters
from eventd.server.fanout import Fanout
from eventd.server.interfaces import IClientConnection
from eventd.server.logbudget import LogBudget
from eventd.server.login import Admission
from eventd.server.memory import MemoryBudget
from eventd.server.portal import Principal
from eventd.server.queues import DeliveryQueue, QueueBounds
from eventd.server.responders import Responders
from eventd.server.security import Security
from eventd.server.stalls import StallMonitor
from eventd.server.stats import ServerStats, Totals, server_stats
from eventd.server.throttle import LoginThrottle
from eventd.server.tls import certificate_user
from eventd.wire.addresses import peer_name
from eventd.wire.commands import GOODBYES, Goodbye, Heartbeat, command_name, deliver_box

BOX_OVERHEAD_BYTES = 128 * 1024
"""What a box may hold besides its message: subjects, codec, keys."""

SHARE_SECONDS = 0.002
"""A connection's share of one turn of the reactor."""

CLOSE_GRACE_SECONDS = 2.0
"""How long a connection told Goodbye may take to read it before it is cut."""

REPORT_SECONDS = 10.0
"""The least time between two lines about refused connections."""

LOG_LINES_PER_SECOND = 20
"""Lines about clients (connected, disconnected, refused, closed) the log
takes per second, at most, after a burst of L{LOG_LINES_AT_ONCE}: a flood
of clients is summed up, not written out."""

LOG_LINES_AT_ONCE = 200

KEEPALIVE = (("TCP_KEEPIDLE", 60), ("TCP_KEEPINTVL", 10), ("TCP_KEEPCNT", 6))
"""TCP keepalive: probe after a minute of silence, every 10 seconds, and
give up after 6 unanswered probes (Linux's names; others keep their own)."""


@implementer(IClientConnection, IHandshakeListener)
class EventServerProtocol(amp.AMP):
    """
    One client connection.

    @ivar queue: its delivery queue, which is also its identity as a
        subscriber in the broker.
    @ivar last_heard: when a byte last came from the client.
    """

    log = Logger()

    def __init__(self, factory: "EventServerFactory") -> None:
        super().__init__()
        self.factory = factory
        self._boxes = BoxReader(factory.config.max_message_bytes + BOX_OVERHEAD_BYTES)
        self._charged = 0
        self._holds = 0
        self._sending_paused = False
        self._share_started = 0.0
        self._box_started: Optional[float] = None
        self._heartbeat_sent: Optional[float] = None
        self._closing = False
        self.peer = "?"
        self.last_heard = self.connected_at = factory.clock.seconds()
        self.queue: Optional[DeliveryQueue] = None
        self.admission: Optional[Admission] = None

    # Connection life.  AMP's own versions log every connection at info under
    # its namespace; these log one line each, naming the peer, under ours,
    # and call what AMP's call besides logging (checked against Twisted 26.10;
    # tests/server/test_protocol.py fails if a release makes AMP's do more).

    def makeConnection(self, transport) -> None:
        factory = self.factory
        self.peer = peer_name(transport.getPeer())
        amp.BinaryBoxProtocol.makeConnection(self, transport)
        if len(factory.connections) >= factory.config.limits.max_connections:
            factory.refused_connection(self.peer)
            self.goodbye(
                "MAX_CONNECTIONS",
                f"the server has {len(factory.connections)} connections, as many as "
                f"it allows (--max-connections)",
                quietly=True,
            )
            return
        self.queue = DeliveryQueue(
            self, factory.clock, factory.queue_bounds, factory.budget, self.peer
        )
        security = factory.security
        self.admission = Admission(
            security.portal,
            security.accounts,
            factory.throttle,
            factory.clock,
            factory.counters,
            factory.quiet,
            peer=self.peer,
            host=getattr(transport.getPeer(), "host", self.peer),
            admitted=self._admitted,
            exhausted=lambda reason: self.goodbye("LOGIN_FAILED", reason),
        )
        self.responders = self.locator = Responders(
            factory.broker,
            factory.fanout,
            factory.config,
            factory.clock,
            self,
            self.queue,
            factory.counters,
            factory.quiet,
            stats=factory.stats,
            admission=self.admission,
            grants=security.grants_for,
        )
        if not security.login_required:
            self.admission.admit_anonymously()
        self._set_socket_options(transport)
        transport.registerProducer(self.queue, True)
        factory.connections.add(self)
        also = factory.quiet.allow()
        if also is not None:
            self.log.info("client {peer} connected{also}", peer=self.peer, also=also)

    def connectionLost(self, reason) -> None:
        self._release_input()
        amp.BinaryBoxProtocol.connectionLost(self, reason)
        self.transport = None
        queue = self.queue
        if queue is None:  # refused at once
            return
        self.factory.broker.remove(queue)
        queue.stopProducing()
        also = self.factory.quiet.allow()
        if also is not None:
            self.log.info(
                "client {peer} disconnected ({delivered} events delivered, "
                "{dropped} dropped): {reason}{also}",
                peer=self.peer,
                delivered=queue.delivered,
                dropped=queue.dropped,
                reason=reason.getErrorMessage(),
                also=also,
            )
        self.factory.forget(self)

    # Admission.

    def handshakeCompleted(self) -> None:
        """
        TLS verified the client: a client certificate, if it showed one
        from the server's client CA, names its user.
        """
        if self.admission is None or not self.factory.security.client_certificates:
            return
        name = certificate_user(self.transport)
        if name is not None:
            self.admission.admit_certificate(name)

    def _admitted(self, principal: Principal) -> None:
        queue = self.queue
        if queue is None or queue.user == principal.user:
            return
        queue.user = principal.user
        if self.factory.security.access is not None and any(
            self.factory.broker.subscriptions_of(queue)
        ):
            # Subscribed anonymously, then logged in: what it may receive
            # has changed.
            self.factory.broker.forget_targets()

    def _set_socket_options(self, transport) -> None:
        """
        Bound the kernel's send buffer (see --send-buffer-bytes), and have
        the kernel probe a TCP peer that has gone quiet, beside the
        heartbeats: it finds a dead host even when the client's process
        cannot be asked.
        """
        handle = _socket_of(transport)
        if handle is None:
            return
        size = self.factory.config.send_buffer_bytes
        if size:
            handle.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)
        if handle.family in (socket.AF_INET, socket.AF_INET6):
            handle.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
            for option, value in KEEPALIVE:
                if hasattr(socket, option):
                    handle.setsockopt(socket.IPPROTO_TCP, getattr(socket, option), value)

    def goodbye(self, code: str, reason: str, *, quietly: bool = False) -> None:
        """
        Close the connection, telling the client why first (L{Goodbye}),
        counted by C{code} and logged unless C{quietly}.  What it sent and
        we had not handled is forgotten at once; a client that does not take
        what we send (so not its goodbye either) is cut off once the grace
        time is up.
        """
        if code not in GOODBYES:
            raise ValueError(f"no Goodbye has the code {code!r}")
        if self._closing or self.transport is None:
            return
        self._closing = True
        self._boxes.discard()
        self._release_input()
        self.factory.counters.closed[code] += 1
        also = None if quietly else self.factory.quiet.allow()
        if also is not None:
            self.log.warn(
                "closing the connection of {peer}: {code}: {reason}{also}",
                peer=self.peer,
                code=code,
                reason=reason,
                also=also,
            )
        self.tell_goodbye(code, reason)
        transport = self.transport
        if self.queue is not None:
            # Nothing more is queued for it, and what is queued is let go,
            # while it takes its goodbye.
            transport.unregisterProducer()
            self.factory.broker.remove(self.queue)
            self.queue.stopProducing()
        _close_after_goodbye(transport)
        self.factory.clock.callLater(CLOSE_GRACE_SECONDS, _cut, transport)

    def tell_goodbye(self, code: str, reason: str) -> None:
        """
        Tell the client why the server is about to close the connection.
        """
        self.callRemote(Goodbye, code=code, reason=reason)

    # Reading boxes.

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        self.last_heard = self.factory.clock.seconds()
        self._heartbeat_sent = None
        self._boxes.feed(data)
        self._charge_input()
        self._read_boxes()

    @property
    def held_bytes(self) -> int:
        """
        What this connection holds in memory now: its input not yet
        handled, and its queued events.
        """
        return self._boxes.held_bytes + (self.queue.bytes if self.queue else 0)

    def _read_boxes(self) -> None:
        """
        Handle whole boxes while reading is not held, until this
        connection's share of the turn is used.
        """
        self.begin_share()
        while not self._holds and not self._closing and self.transport is not None:
            try:
                box = self._boxes.next_box()
            except FramingError as e:
                self.goodbye("PROTOCOL_ERROR", str(e))
                return
            if box is None:
                if self._box_started is None and self._boxes.held_bytes:
                    self._box_started = self.factory.clock.seconds()
                self._charge_input()
                return
            self._box_started = None
            self._charge_input()
            if isinstance(box, OversizedBox):
                self._refuse_oversized(box)
            else:
                try:
                    self.ampBoxReceived(box)
                except (amp.NoEmptyBoxes, KeyError) as e:
                    # A box that is neither a command nor the answer to one of
                    # ours: not a client we can talk to.
                    self.goodbye(
                        "PROTOCOL_ERROR", f"a box that is not a command ({type(e).__name__})"
                    )
                    return
            if self.share_used():
                self.hold_reading()
                self.factory.clock.callLater(0, self.release_reading)
        self._charge_input()

    def _charge_input(self) -> None:
        """
        Charge the memory budget with what the input holds now.
        """
        held = self._boxes.held_bytes
        change, self._charged = held - self._charged, held
        if change > 0:
            self.factory.budget.charge(change)
        elif change < 0:
            self.factory.budget.release(-change)

    def _release_input(self) -> None:
        self.factory.budget.release(self._charged)
        self._charged = 0

    def _refuse_oversized(self, box: OversizedBox) -> None:
        limit = self.factory.config.max_message_bytes
        refusal = MessageTooLarge(
            f"the {command_name(box.command)} is bigger than the limit of {limit} bytes"
        )
        if box.ask is None:
            self.responders.refuse(refusal)
            return
        self.factory.counters.refused[WIRE_CODES[MessageTooLarge].decode()] += 1
        self.sendBox(
            amp.AmpBox(
                {
                    amp.ERROR: box.ask,
                    amp.ERROR_CODE: WIRE_CODES[MessageTooLarge],
                    amp.ERROR_DESCRIPTION: str(refusal).encode(),
                }
            )
        )

    # Sharing the reactor.

    def begin_share(self) -> None:
        self._share_started = self.factory.timer()

    def share_used(self) -> bool:
        return self.factory.timer() - self._share_started > SHARE_SECONDS

    # Holding reading.

    def hold_reading(self) -> None:
        """
        Handle no further commands from this client, already received or
        not, until every hold is released.
        """
        self._holds += 1
        if self._holds == 1 and self.transport is not None and not self._closing:
            self.transport.pauseProducing()

    def release_reading(self) -> None:
        """
        Release one hold; with none left, go on with received commands and
        read again.
        """
        self._holds -= 1
        if self._holds == 0 and self.transport is not None and not self._closing:
            self.transport.resumeProducing()
            self._read_boxes()

    # Liveness, checked by the factory's sweep.

    def check(self, now: float) -> None:
        """
        Close this connection if a box it began is overdue, or if it has
        been quiet too long and did not answer a heartbeat; ask it for one
        if it has been quiet for the heartbeat interval.
        """
        config = self.factory.config
        if (
            self.admission is not None
            and self.admission.principal is None
            and now - self.connected_at >= config.login_timeout_seconds
        ):
            self.goodbye(
                "LOGIN_TIMEOUT",
                f"not logged in {now - self.connected_at:.0f} seconds after connecting "
                f"(--login-timeout {config.login_timeout_seconds:g})",
            )
            return
        if self._holds > self._sending_paused:
            # The server itself holds this client's input (its publishes wait
            # for room, or its share is used): its silence is not its own.
            self.last_heard = now
            return
        if (
            self._box_started is not None
            and now - self._box_started >= config.read_timeout_seconds
        ):
            self.goodbye(
                "READ_TIMEOUT",
                f"a box begun {now - self._box_started:.0f} seconds ago has not ended "
                f"({self._boxes.held_bytes} bytes so far; --read-timeout "
                f"{config.read_timeout_seconds:g})",
            )
            return
        interval = config.heartbeat_seconds
        if not interval or now - self.last_heard < interval:
            return
        if self._heartbeat_sent is None:
            self._heartbeat_sent = now
            self.callRemote(Heartbeat).addErrback(lambda _: None)
        elif now - self._heartbeat_sent >= interval:
            self.goodbye(
                "HEARTBEAT_TIMEOUT",
                f"nothing heard for {now - self.last_heard:.0f} seconds, a heartbeat "
                f"unanswered (--heartbeat {interval:g})",
            )

    # IDeliverySink.

    def write_events(self, items: Sequence[bytes], gaps: Optional[dict[int, int]]) -> None:
        self.transport.write(deliver_box(items, gaps))

    def sending_paused(self) -> None:
        self._sending_paused = True
        self.hold_reading()

    def sending_resumed(self) -> None:
        # The client took what we sent: it is there, if slow to answer.
        self._sending_paused = False
        self.last_heard = self.factory.clock.seconds()
        self._heartbeat_sent = None
        self.release_reading()

    def slow_consumer(self, reason: str) -> None:
        self.goodbye("SLOW_CONSUMER", f"a slow consumer: {reason}")


def _socket_of(transport) -> Optional[socket.socket]:
    """
    The socket beneath a transport, if any: a TLS transport's handle is its
    OpenSSL connection, and the socket is that of the transport it wraps.
    """
    while transport is not None:
        handle = getattr(transport, "getHandle", lambda: None)()
        if isinstance(handle, socket.socket):
            return handle
        transport = getattr(transport, "transport", None)
    return None


def _close_after_goodbye(transport) -> None:
    """
    Close our side once the Goodbye is written, and go on reading (what
    arrives is discarded) until the client closes its side or L{_cut}
    does.  A socket closed with input unread makes the kernel send a reset
    instead, and a reset can destroy the Goodbye before the client reads
    it: a client still sending (a hoarder of memory, say) would never
    learn why it was closed.
    """
    # Looked up on the class: a TLS transport forwards unknown attributes to
    # the TCP transport beneath it, whose half-close would send FIN under
    # TLS, before a Goodbye TLS still holds (one sent before the handshake
    # ends).  TLS's own close sends that first, then close_notify, and reads
    # on until the client answers it.
    if getattr(type(transport), "loseWriteConnection", None) is None:
        transport.loseConnection()
        return
    transport.loseWriteConnection()
    transport.resumeProducing()


def _cut(transport) -> None:
    """
    Abort a connection that was asked to close, if it has not.
    """
    if transport.connected:
        transport.abortConnection()


class EventServerFactory(ServerFactory):
    """
    Makes an L{EventServerProtocol} for each connection, all sharing one
    broker, and keeps track of them.

    @ivar connections: the connected protocols.
    @ivar started_at: when it was made: the zero of the server's uptime.
    @ivar closed: what connections since closed delivered and dropped.
    @ivar budget: the memory budget of all connections.
    @ivar counters: refusals and closings, by code.
    @ivar timer: the clock shares of the reactor's time are measured with.
    """

    noisy = False
    log = Logger()

    def __init__(
        self,
        broker: SubscriptionManager,
        config: ServerConfig,
        clock: IReactorTime,
        timer: Callable[[], float] = time.perf_counter,
        security: Optional[Security] = None,
    ) -> None:
        """
        @param security: what the server asks of clients and lets them do;
            by default, nothing and everything.
        """
        self.broker = broker
        self.security = security if security is not None else Security()
        self.throttle = LoginThrottle(clock)
        if self.security.access is not None:
            broker.receives = self._receives
        self.fanout = Fanout(broker, config)
        self.config = config
        self.clock = clock
        self.timer = timer
        self.queue_bounds = QueueBounds(
            config.queue_size,
            config.queue_bytes,
            config.when_full,
            config.slow_consumer_seconds,
        )
        self.connections: set[EventServerProtocol] = set()
        self.started_at = clock.seconds()
        self.closed = Totals()
        self.counters = Counters()
        self.quiet = LogBudget(clock, LOG_LINES_PER_SECOND, LOG_LINES_AT_ONCE)
        self.budget = MemoryBudget(config.limits.max_memory_bytes, self._free_memory)
        self._idle: list[Deferred] = []
        self._refused_since_report = 0
        self._refusal_reported_at = float("-inf")
        self._sweep = LoopingCall(self.sweep)
        self._sweep.clock = clock
        self.stalls = StallMonitor(clock)

    def buildProtocol(self, addr) -> EventServerProtocol:
        return EventServerProtocol(self)

    # Admission and permissions.

    def _receives(self, queue: DeliveryQueue, subject: str) -> bool:
        return self.security.grants_for(queue.user).may_subscribe(subject)

    def reload(self) -> None:
        """
        Read the users file and the access list again; a new access list
        applies to the connections already open, to the events they
        receive from now on.
        """
        if self.security.reload():
            self.broker.forget_targets()

    # Watching the connections.

    def start_watching(self) -> None:
        """
        Check every connection's liveness a few times per heartbeat interval
        and read timeout, and measure the reactor's stalls.
        """
        config = self.config
        timeouts = [
            t
            for t in (
                config.heartbeat_seconds,
                config.read_timeout_seconds,
                self.security.login_required and config.login_timeout_seconds,
            )
            if t
        ]
        if timeouts and not self._sweep.running:
            self._sweep.start(max(min(timeouts) / 4, 0.05), now=False)
        self.stalls.start()

    def stop_watching(self) -> None:
        if self._sweep.running:
            self._sweep.stop()
        self.stalls.stop()

    def sweep(self) -> None:
        """
        Check every connection once (L{EventServerProtocol.check}).
        """
        now = self.clock.seconds()
        for connection in list(self.connections):
            connection.check(now)

    def refused_connection(self, peer: str) -> None:
        """
        Log a connection refused for being one too many: one line now and
        then, with the count, since they may come by the thousand.
        """
        self._refused_since_report += 1
        now = self.clock.seconds()
        if now - self._refusal_reported_at >= REPORT_SECONDS:
            self._refusal_reported_at = now
            self.log.warn(
                "refused {count} connections, the last from {peer}: the server has "
                "{limit} (--max-connections)",
                count=self._refused_since_report,
                peer=peer,
                limit=self.config.limits.max_connections,
            )
            self._refused_since_report = 0

    def _free_memory(self) -> None:
        """
        The memory budget ran out: disconnect the connections holding the
        most until it suffices again.
        """
        budget = self.budget
        while budget.used > budget.limit:
            candidates = [c for c in self.connections if not c._closing]
            if not candidates:
                return
            largest = max(candidates, key=lambda connection: connection.held_bytes)
            held = largest.held_bytes
            if not held:  # what is held is not any open connection's
                return
            largest.goodbye(
                "MEMORY_BUDGET",
                f"the server holds {budget.used} bytes for its clients, over its budget "
                f"of {budget.limit} (--max-memory-bytes); this connection held the "
                f"most, {held}",
            )

    # Figures.

    def queues(self) -> Iterator[DeliveryQueue]:
        """
        The delivery queue of every connection.
        """
        return (connection.queue for connection in self.connections)

    def stats(self) -> ServerStats:
        """
        A snapshot of the server's figures.
        """
        return server_stats(
            self.broker,
            list(self.queues()),
            self.closed,
            self.counters,
            self.budget,
            uptime=self.clock.seconds() - self.started_at,
            longest_stall=self.stalls.longest(),
            security=self.security.describe(),
        )

    # Stopping.

    def forget(self, protocol: EventServerProtocol) -> None:
        """
        A connection is gone: its queue's counts go into the totals, so the
        server's figures still count what it received.
        """
        self.connections.discard(protocol)
        self.closed = self.closed.plus(protocol.queue)
        if not self.connections:
            idle, self._idle = self._idle, []
            for waiter in idle:
                waiter.callback(None)

    def disconnect_all(self, timeout: float) -> Deferred:
        """
        Close every connection, letting each flush what it has written, and
        abort those still open after C{timeout} seconds.  Fires once all are
        gone.
        """
        if not self.connections:
            return succeed(None)
        idle: Deferred = Deferred()
        self._idle.append(idle)
        for protocol in list(self.connections):
            protocol.tell_goodbye("SHUTDOWN", "the server is stopping")
            # A TLS transport closes only once its producer is gone.
            protocol.transport.unregisterProducer()
            protocol.transport.loseConnection()

        def abort() -> None:
            for protocol in list(self.connections):
                protocol.transport.abortConnection()

        overdue = self.clock.callLater(timeout, abort)
        return idle.addCallback(lambda _: overdue.active() and overdue.cancel())
