"""
Several server processes on one port: C{--reuse-port} listens with
SO_REUSEPORT (Linux 3.9 and later), and the kernel spreads new connections
over every process listening so, one reactor (one core) each.

Twisted's own TCP endpoints cannot set a socket option before binding; this
one makes the socket itself, binds and listens, and hands it to the reactor
(C{adoptStreamPort}), which serves it as any TCP port.  It takes the
arguments of a C{tcp:} or C{tcp6:} endpoint string.
"""

import socket

from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from zope.interface import implementer

from eventd.wire.addresses import endpoint_arguments

FAMILIES = {"tcp": (socket.AF_INET, ""), "tcp6": (socket.AF_INET6, "::")}
"""The schemes it takes, each with its address family and its interface
when none is named (every one)."""


@implementer(IStreamServerEndpoint)
class ReusePortEndpoint:
    """
    Listens on a TCP port that other processes may listen on too.
    """

    def __init__(self, reactor, family: int, port: int, interface: str, backlog: int) -> None:
        self._reactor = reactor
        self._family = family
        self._port = port
        self._interface = interface
        self._backlog = backlog

    def listen(self, factory) -> defer.Deferred:
        return defer.execute(self._listen, factory)

    def _listen(self, factory) -> IListeningPort:
        with socket.socket(self._family, socket.SOCK_STREAM) as listening:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            try:
                listening.bind((self._interface, self._port))
                listening.listen(self._backlog)
            except OSError as e:
                raise CannotListenError(self._interface, self._port, e) from None
            listening.setblocking(False)
            # The reactor serves a copy of the socket; ours closes here.
            return self._reactor.adoptStreamPort(listening.fileno(), self._family, factory)


def reuse_port_endpoint(reactor, description: str) -> ReusePortEndpoint:
    """
    The endpoint a C{tcp:} or C{tcp6:} string names, listening with
    SO_REUSEPORT.

    @raise ValueError: if the string is of another kind, or its port or
        backlog is not a number, or this system has no SO_REUSEPORT.
    """
    if not hasattr(socket, "SO_REUSEPORT"):
        raise ValueError("--reuse-port needs SO_REUSEPORT, which this system lacks")
    scheme, _, rest = description.partition(":")
    if scheme not in FAMILIES:
        raise ValueError("--reuse-port works with tcp: and tcp6: endpoints only")
    family, every = FAMILIES[scheme]
    positional, named = endpoint_arguments(rest)
    if positional:
        named.setdefault("port", positional[0])
    unknown = set(named) - {"port", "interface", "backlog"}
    if unknown or len(positional) > 1 or "port" not in named:
        raise ValueError(f"with --reuse-port, a {scheme}: endpoint takes a port, interface and backlog")
    try:
        port, backlog = int(named["port"]), int(named.get("backlog", 50))
    except ValueError:
        raise ValueError("the port and backlog must be numbers") from None
    return ReusePortEndpoint(reactor, family, port, named.get("interface", every), backlog)
