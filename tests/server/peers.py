"""
Clients of an in-memory server for tests: each speaks raw AMP boxes over a
StringTransport to a protocol of the factory under test, with a controlled
clock and no reactor.
"""

from typing import Optional

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.protocols import amp
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from eventd.server.broker import SubscriptionManager
from eventd.server.config import ServerConfig
from eventd.server.protocol import EventServerFactory
from eventd.wire.commands import Deliver, Publish


class Peer:
    """
    One client of the server under test, speaking raw AMP boxes.
    """

    def __init__(
        self,
        factory: EventServerFactory,
        port: Optional[int] = None,
        transport: Optional[StringTransport] = None,
    ) -> None:
        """
        @param port: if given, the peer's address is C{127.0.0.1:port}, so
            that each has its own name in the server's figures.
        @param transport: the server's side of the connection, if not a
            plain L{StringTransport}.
        """
        address = None if port is None else IPv4Address("TCP", "127.0.0.1", port)
        self.transport = transport or StringTransport(peerAddress=address)
        self.protocol = factory.buildProtocol(None)
        self.protocol.makeConnection(self.transport)
        self._tags = 0

    def close(self) -> None:
        """The client goes away."""
        self.protocol.connectionLost(Failure(ConnectionDone()))

    def send(self, command: type[amp.Command], **arguments) -> bytes:
        """Send a command as one box; return its _ask tag."""
        return self.send_box(command.commandName, command.makeArguments(arguments, None))

    def send_box(self, name: bytes, box: amp.AmpBox) -> bytes:
        self._tags += 1
        tag = b"%d" % self._tags
        box[amp.COMMAND] = name
        box[amp.ASK] = tag
        self.protocol.dataReceived(box.serialize())
        return tag

    def received(self) -> list[amp.AmpBox]:
        """Every box the server sent since the last call."""
        data = self.transport.value()
        self.transport.clear()
        return amp.parseString(data)

    def answer(self, tag: bytes) -> amp.AmpBox:
        """The one answer or error box for C{tag} among what arrived."""
        [box] = [
            box
            for box in self.received()
            if box.get(amp.ANSWER) == tag or box.get(amp.ERROR) == tag
        ]
        return box

    def goodbye(self) -> tuple[str, str]:
        """The code and reason of the Goodbye that arrived."""
        [box] = [box for box in self.received() if box.get(amp.COMMAND) == b"goodbye"]
        return box[b"code"].decode(), box[b"reason"].decode()

    def events(self) -> list:
        """
        The events of every Deliver box that arrived, each with how many
        were dropped before it.
        """
        events = []
        for box in self.received():
            if box.get(amp.COMMAND) == Deliver.commandName:
                arguments = Deliver.parseArguments(box, None)
                dropped = arguments.get("dropped") or {}
                events += [
                    event._replace(dropped_before=dropped.get(index, 0))
                    for index, event in enumerate(arguments["events"])
                ]
        return events


class HalfCloseableTransport(StringTransport):
    """
    A transport that can close its writing side alone, as TCP's can.

    @ivar write_closed: whether it did.
    """

    write_closed = False

    def loseWriteConnection(self) -> None:
        self.write_closed = True


class ServerTestCase(SynchronousTestCase):
    """
    A server in memory: its clock is a L{Clock}, and the time its
    connections' shares of the reactor are measured with stands still
    (C{self.now}), unless a test moves it.
    """

    config = ServerConfig()

    def setUp(self):
        self.clock = Clock()
        self.now = 0.0
        self.broker = SubscriptionManager(self.config.limits)
        self.factory = EventServerFactory(
            self.broker, self.config, self.clock, timer=lambda: self.now
        )

    def peer(self, transport: Optional[StringTransport] = None) -> Peer:
        return Peer(self.factory, transport=transport)

    def publish(self, peer: Peer, subject: str, payload: bytes = b"1") -> bytes:
        return peer.send(Publish, subjects=[subject], codec="json", payload=payload)

    def assertError(self, box: amp.AmpBox, code: bytes, *words: str) -> None:
        self.assertEqual(box[amp.ERROR_CODE], code)
        for word in words:
            self.assertIn(word, box[amp.ERROR_DESCRIPTION].decode())
