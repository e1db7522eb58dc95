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

    def offer(item: bytes) -> Optional[Deferred[None]]:
        """
        Take one encoded event for delivery.

        @return: L{None} if the event was accepted or dropped at once, or a
            L{Deferred} that fires when the subscriber has room again (the
            publisher is then expected to wait for it).
        """


class IDeliverySink(Interface):
    """
    Where a delivery queue writes: in the server, the subscriber's connection.
    """

    def write_events(items: Sequence[bytes]) -> None:
        """
        Send these encoded events, in order, to the subscriber.
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


class IClientConnection(IDeliverySink):
    """
    What the server's per-client session needs of its connection.
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
