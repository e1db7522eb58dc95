"""
The server's side of a connection: bytes in, calls into the responders;
events out.

L{EventServerProtocol} is an AMP connection with three additions, each about
keeping one client from hurting the others:

  - Box size is bounded.  Boxes are read by a L{BoxReader}, which keeps only
    the routing keys of a box that grows past the message limit; such a box
    is refused with L{MessageTooLarge} once it ends, so the connection stays
    usable and memory stays bounded.
  - Reading can be held, by several parties at once: a publish waiting for
    room in a full queue (block mode), and the peer not taking what we send
    (its answers would otherwise pile up in our memory).  While held, no
    further box is handled, even one already received.
  - Its delivery queue is the transport's streaming producer, and the
    connection turns queued events into Deliver boxes.
"""

import socket
from typing import Iterator, Sequence

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from twisted.protocols import amp
from zope.interface import implementer

from eventd.errors import WIRE_CODES, MessageTooLarge
from eventd.server.boxes import BoxReader, FramingError, OversizedBox
from eventd.server.broker import SubscriptionManager
from eventd.server.config import ServerConfig
from eventd.server.fanout import Fanout
from eventd.server.interfaces import IClientConnection
from eventd.server.queues import DeliveryQueue
from eventd.server.responders import Responders
from eventd.server.stats import ServerStats, Totals, server_stats
from eventd.wire.addresses import peer_name
from eventd.wire.commands import deliver_box

BOX_OVERHEAD_BYTES = 128 * 1024
"""What a box may hold besides its message: subjects, codec, keys."""


@implementer(IClientConnection)
class EventServerProtocol(amp.AMP):
    """
    One client connection.

    @ivar queue: its delivery queue, which is also its identity as a
        subscriber in the broker.
    """

    log = Logger()

    def __init__(self, factory: "EventServerFactory") -> None:
        super().__init__()
        self.factory = factory
        self._boxes = BoxReader(factory.config.max_message_bytes + BOX_OVERHEAD_BYTES)
        self._holds = 0
        self.peer = "?"
        self.queue: DeliveryQueue
        self.responders: Responders

    # Connection life.  AMP's own versions log every connection at info under
    # its namespace; these log one line each, naming the peer, under ours.

    def makeConnection(self, transport) -> None:
        factory = self.factory
        self.peer = peer_name(transport.getPeer())
        config = factory.config
        self.queue = DeliveryQueue(
            self, factory.clock, config.queue_size, config.when_full, self.peer
        )
        self.responders = self.locator = Responders(
            factory.broker,
            factory.fanout,
            factory.clock,
            self,
            self.queue,
            stats=factory.stats,
        )
        self._bound_send_buffer(transport)
        transport.registerProducer(self.queue, True)
        factory.connections.add(self)
        self.log.info("client {peer} connected", peer=self.peer)
        amp.BinaryBoxProtocol.makeConnection(self, transport)

    def connectionLost(self, reason) -> None:
        self.factory.broker.remove(self.queue)
        self.queue.stopProducing()
        self.log.info(
            "client {peer} disconnected ({delivered} events delivered, "
            "{dropped} dropped): {reason}",
            peer=self.peer,
            delivered=self.queue.delivered,
            dropped=self.queue.dropped,
            reason=reason.getErrorMessage(),
        )
        amp.BinaryBoxProtocol.connectionLost(self, reason)
        self.transport = None
        self.factory.forget(self)

    def _bound_send_buffer(self, transport) -> None:
        size = self.factory.config.send_buffer_bytes
        handle = getattr(transport, "getHandle", lambda: None)()
        if size and isinstance(handle, socket.socket):
            handle.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)

    # Reading boxes.

    def dataReceived(self, data: bytes) -> None:
        self._boxes.feed(data)
        self._read_boxes()

    @property
    def held_bytes(self) -> int:
        """
        What this connection's input holds in memory now: bytes not yet
        handled, and the box being read.
        """
        return self._boxes.held_bytes

    def _read_boxes(self) -> None:
        """
        Handle whole boxes while reading is not held.
        """
        while not self._holds and self.transport is not None:
            try:
                box = self._boxes.next_box()
            except FramingError as e:
                self._close(str(e))
                return
            if box is None:
                return
            if isinstance(box, OversizedBox):
                self._refuse_oversized(box)
                continue
            try:
                self.ampBoxReceived(box)
            except (amp.NoEmptyBoxes, KeyError) as e:
                # A box that is neither a command nor the answer to one of
                # ours (the server asks nothing): not a client we can talk to.
                self._close(f"a box that is not a command ({type(e).__name__})")
                return

    def _close(self, reason: str) -> None:
        self.log.warn("closing the connection of {peer}: {reason}", peer=self.peer, reason=reason)
        self.transport.loseConnection()

    def _refuse_oversized(self, box: OversizedBox) -> None:
        limit = self.factory.config.max_message_bytes
        command = (box.command or b"?").decode("ascii", "replace")
        refusal = MessageTooLarge(f"the {command} is bigger than the limit of {limit} bytes")
        if box.ask is None:
            self.responders.refuse(refusal)
            return
        self.sendBox(
            amp.AmpBox(
                {
                    amp.ERROR: box.ask,
                    amp.ERROR_CODE: WIRE_CODES[MessageTooLarge],
                    amp.ERROR_DESCRIPTION: str(refusal).encode(),
                }
            )
        )

    # Holding reading.

    def hold_reading(self) -> None:
        """
        Handle no further commands from this client, already received or
        not, until every hold is released.
        """
        self._holds += 1
        if self._holds == 1 and self.transport is not None:
            self.transport.pauseProducing()

    def release_reading(self) -> None:
        """
        Release one hold; with none left, go on with received commands and
        read again.
        """
        self._holds -= 1
        if self._holds == 0 and self.transport is not None:
            self.transport.resumeProducing()
            self._read_boxes()

    # IDeliverySink.

    def write_events(self, items: Sequence[bytes]) -> None:
        self.transport.write(deliver_box(items))

    def sending_paused(self) -> None:
        self.hold_reading()

    def sending_resumed(self) -> None:
        self.release_reading()


class EventServerFactory(ServerFactory):
    """
    Makes an L{EventServerProtocol} for each connection, all sharing one
    broker, and keeps track of them.

    @ivar connections: the connected protocols.
    @ivar started_at: when it was made: the zero of the server's uptime.
    @ivar closed: what connections since closed delivered and dropped.
    """

    noisy = False

    def __init__(
        self, broker: SubscriptionManager, config: ServerConfig, clock: IReactorTime
    ) -> None:
        self.broker = broker
        self.fanout = Fanout(broker, config)
        self.config = config
        self.clock = clock
        self.connections: set[EventServerProtocol] = set()
        self.started_at = clock.seconds()
        self.closed = Totals()
        self._idle: list[Deferred] = []

    def buildProtocol(self, addr) -> EventServerProtocol:
        return EventServerProtocol(self)

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
            uptime=self.clock.seconds() - self.started_at,
        )

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
            protocol.transport.loseConnection()

        def abort() -> None:
            for protocol in list(self.connections):
                protocol.transport.abortConnection()

        overdue = self.clock.callLater(timeout, abort)
        return idle.addCallback(lambda _: overdue.active() and overdue.cancel())
