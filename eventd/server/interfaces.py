"""
The boundaries between eventd's layers.

The broker fans events out to L{ISubscriber}s without knowing what they are;
a subscriber's queue hands batches to an L{IDeliverySink} without knowing
what a socket is.  Tests provide both with plain in-memory objects.
"""

from typing import Optional, Sequence

from twisted.internet.defer import Deferred
from zope.interface import Attribute, Interface


class ISubscriber(Interface):
    """
    Something the broker can hand events to: in the server, one connection's
    delivery queue.
    """

    peer = Attribute("A short text naming the subscriber in logs, e.g. its address.")

    def offer(item: bytes) -> bool:
        """
        Take one encoded event.

        @return: True if the subscriber took it but is now over its bound
            (block mode): the publisher should wait for L{when_room}.
        """

    def when_room() -> Deferred[None]:
        """
        A Deferred that fires once the subscriber has room again.
        """


class IDeliverySink(Interface):
    """
    Where a delivery queue writes: in the server, the subscriber's connection.
    """

    def write_events(items: Sequence[bytes], gaps: Optional[dict[int, int]]) -> None:
        """
        Send these encoded events, in order, to the subscriber.

        @param gaps: how many events were dropped for the subscriber just
            before some of them, by their index in C{items}; None if none
            were.
        """

    def sending_paused() -> None:
        """
        The peer stopped taking data: the queue will hold events until
        L{sending_resumed}.
        """

    def sending_resumed() -> None:
        """
        The peer takes data again.
        """

    def slow_consumer(reason: str) -> None:
        """
        The queue gave up on its subscriber, for C{reason}: close the
        connection, telling the peer why.
        """


class IClientConnection(IDeliverySink):
    """
    What the responders to a client's commands need of its connection.
    """

    def hold_reading() -> None:
        """
        Handle no further commands from this client until
        L{release_reading}; holds may nest.
        """

    def release_reading() -> None:
        """
        Undo one L{hold_reading}.
        """

    def share_used() -> bool:
        """
        Whether this connection has had its share of the reactor's time
        since L{begin_share}: work done for it should then wait for the
        next turn, so the other connections are served meanwhile.
        """

    def begin_share() -> None:
        """
        Work for this connection resumes in a new turn of the reactor: its
        share starts again.
        """

    def goodbye(code: str, reason: str) -> None:
        """
        Close the connection, telling the client why first: C{code} is one
        of L{eventd.wire.commands.GOODBYES}.
        """
