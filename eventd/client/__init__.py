"""
The Twisted client: C{client = await connect("tcp:127.0.0.1:7766")}.
"""

from typing import Optional, Union

from twisted.internet.defer import Deferred
from twisted.internet.endpoints import clientFromString
from twisted.internet.interfaces import IStreamClientEndpoint

from eventd.client.session import EventClient, Handler
from eventd.codecs import codec_named
from eventd.event import Event

__all__ = ["connect", "EventClient", "Event", "Handler"]


def connect(
    endpoint: Union[str, IStreamClientEndpoint],
    reactor: Optional[object] = None,
    codec: str = "json",
) -> "Deferred[EventClient]":
    """
    Connect to an eventd server.

    @param endpoint: a Twisted client endpoint string such as
        C{tcp:127.0.0.1:7766} (what the server's banner prints after
        C{URI=}; the C{URI=} itself may be left in), or an endpoint.
    @param codec: how messages are encoded: C{json} (the default) or C{raw}
        (bytes as they are).
    @return: a Deferred firing with an L{EventClient} once connected, or
        failing if the server cannot be reached.
    """
    if reactor is None:
        from twisted.internet import reactor
    chosen = codec_named(codec)
    if isinstance(endpoint, str):
        endpoint = clientFromString(reactor, endpoint.removeprefix("URI=").strip())
    return EventClient(endpoint, reactor, chosen).start()
