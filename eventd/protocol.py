"""
The server's side of a connection: bytes in, calls into the session; events
out.

L{EventServerProtocol} is an AMP connection with three additions, each about
keeping one client from hurting the others:

  - Box size is bounded.  AMP itself would collect a box of any size; here a
    box that grows past the message limit keeps only its routing keys, and
    is answered with MESSAGE_TOO_LARGE once it ends, so the connection stays
    usable and memory stays bounded.
  - Reading can be held, by several parties at once: a Publish waiting for
    room in a full queue (block mode), and the peer not taking what we send
    (its answers would otherwise pile up in our memory).
  - Its session's delivery queue is the transport's streaming producer, and
    the connection turns queued events into Deliver boxes.
"""

import socket
from functools import partial
from typing import Sequence

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import ServerFactory
from twisted.logger import Logger
from twisted.protocols import amp
from zope.interface import implementer

from eventd.addresses import peer_name
from eventd.broker import SubscriptionManager
from eventd.commands import deliver_box
from eventd.config import ServerConfig
from eventd.interfaces import IClientConnection
from eventd.session import ClientSession
from eventd.stats import server_stats

BOX_OVERHEAD_BYTES = 128 * 1024
"""What a box may hold besides its message: subjects, codec, keys."""

_ROUTING_KEYS = frozenset((amp.COMMAND, amp.ASK))


@implementer(IClientConnection)
class EventServerProtocol(amp.AMP):
    """
    One client connection.
    """

    log = Logger()

    def __init__(
        self, broker: SubscriptionManager, config: ServerConfig, clock: IReactorTime
    ) -> None:
        super().__init__()
        self._broker = broker
        self._config = config
        self._clock = clock
        self._box_limit = config.max_message_bytes + BOX_OVERHEAD_BYTES
        self._box_bytes = 0
        self._holds = 0
        self.peer = "?"
        self.session: ClientSession | None = None

    # Connection life.  AMP's own versions log every connection at info under
    # its namespace; these log one line each, naming the peer, under ours.

    def makeConnection(self, transport) -> None:
        self.peer = peer_name(transport.getPeer())
        self.session = ClientSession(
            self._broker,
            self._config,
            self._clock,
            self,
            self.peer,
            stats=partial(server_stats, self.factory),
        )
        self.locator = self.session
        self._bound_send_buffer(transport)
        transport.registerProducer(self.session.queue, True)
        self.factory.connections.add(self)
        self.log.info("client {peer} connected", peer=self.peer)
        amp.BinaryBoxProtocol.makeConnection(self, transport)

    def connectionLost(self, reason) -> None:
        queue = self.session.queue
        self.session.close()
        self.log.info(
            "client {peer} disconnected ({delivered} events delivered, "
            "{dropped} dropped): {reason}",
            peer=self.peer,
            delivered=queue.delivered,
            dropped=queue.dropped,
            reason=reason.getErrorMessage(),
        )
        amp.BinaryBoxProtocol.connectionLost(self, reason)
        self.transport = None
        self.factory.forget(self)

    def _bound_send_buffer(self, transport) -> None:
        size = self._config.send_buffer_bytes
        handle = getattr(transport, "getHandle", lambda: None)()
        if size and isinstance(handle, socket.socket):
            handle.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, size)

    # IDeliverySink.

    def write_events(self, items: Sequence[bytes]) -> None:
        self.transport.write(deliver_box(items))

    def sending_paused(self) -> None:
        self.hold_reading()

    def sending_resumed(self) -> None:
        self.release_reading()

    # Holding reading.

    def hold_reading(self) -> None:
        """
        Handle no further commands from this client, already received or
        not, until every hold is released.
        """
        self._holds += 1
        if self._holds == 1 and self.transport is not None:
            self.pauseProducing()

    def release_reading(self) -> None:
        """
        Release one hold; with none left, go on with buffered commands and
        read again.
        """
        self._holds -= 1
        if self._holds == 0 and self.transport is not None:
            self.resumeProducing()

    # Bounded boxes.

    def proto_value(self, string: bytes) -> str:
        self._box_bytes += len(self._currentKey) + len(string)
        if self._box_bytes > self._box_limit and self._currentKey not in _ROUTING_KEYS:
            self._currentKey = None
            self.MAX_LENGTH = self._MAX_KEY_LENGTH
            return "key"
        return super().proto_value(string)

    def proto_key(self, string: bytes) -> str:
        if string:
            return super().proto_key(string)
        oversized = self._box_bytes > self._box_limit
        self._box_bytes = 0
        if not oversized:
            return super().proto_key(string)
        box, self._currentBox = self._currentBox, None
        self._refuse_oversized(box)
        return "init"

    def _refuse_oversized(self, box: amp.AmpBox) -> None:
        limit = self._config.max_message_bytes
        command = box.get(amp.COMMAND, b"?").decode("ascii", "replace")
        self.log.warn(
            "refused a {command} from {peer}: bigger than the limit of {limit} bytes",
            command=command,
            peer=self.peer,
            limit=limit,
        )
        if amp.ASK in box:
            self.sendBox(
                amp.AmpBox(
                    {
                        amp.ERROR: box[amp.ASK],
                        amp.ERROR_CODE: b"MESSAGE_TOO_LARGE",
                        amp.ERROR_DESCRIPTION: (
                            f"the {command} is bigger than the limit of "
                            f"{limit} bytes"
                        ).encode(),
                    }
                )
            )


class EventServerFactory(ServerFactory):
    """
    Makes an L{EventServerProtocol} for each connection, all sharing one
    broker, and keeps track of them.

    @ivar connections: the connected protocols.
    @ivar started_at: when it was made: the zero of the server's uptime.
    @ivar closed_delivered: events delivered to connections since closed.
    @ivar closed_dropped: events dropped for connections since closed.
    """

    noisy = False

    def __init__(
        self, broker: SubscriptionManager, config: ServerConfig, clock: IReactorTime
    ) -> None:
        self.broker = broker
        self.config = config
        self.clock = clock
        self.connections: set[EventServerProtocol] = set()
        self.started_at = clock.seconds()
        self.closed_delivered = 0
        self.closed_dropped = 0
        self._idle: list[Deferred] = []

    def forget(self, protocol: EventServerProtocol) -> None:
        """
        A connection is gone: its queue's counts go into the totals, so the
        server's figures (L{eventd.stats}) still count what it received.
        """
        self.connections.discard(protocol)
        self.closed_delivered += protocol.session.queue.delivered
        self.closed_dropped += protocol.session.queue.dropped
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

    def buildProtocol(self, addr) -> EventServerProtocol:
        protocol = EventServerProtocol(self.broker, self.config, self.clock)
        protocol.factory = self
        return protocol
