"""
The event server as a Twisted service: listen, announce, stop.
"""

from typing import Any, Optional, Sequence, Union

from twisted.internet.defer import Deferred, DeferredList
from twisted.internet.interfaces import (
    IDelayedCall,
    IListeningPort,
    IReactorCore,
    IStreamServerEndpoint,
)
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory

from eventd.codecs import JSON, Codec
from eventd.server.broker import SubscriptionManager
from eventd.server.config import ServerConfig
from eventd.server.fanout import when_room
from eventd.server.listening import ListeningService
from eventd.server.protocol import EventServerFactory
from eventd.server.security import Security
from eventd.wire.addresses import client_endpoint_for

CLOSE_SECONDS = 1.0
"""
The least time connections get to close (to flush what is already written)
once the server stops, even if draining took all of --shutdown-timeout.
"""


class EventService(ListeningService):
    """
    The event server: one broker, listening on one or more endpoints.

    Once every endpoint listens it logs Pyro's banner: a line C{URI= ...} per
    port, naming the port really bound (a client endpoint string every
    eventd client accepts), then C{Event Server started.}

    @ivar broker: the subscription manager all connections share.
    @ivar uris: the client endpoint strings of the listening ports, once
        started.
    """

    name = "eventd"
    log = Logger()

    def __init__(
        self,
        endpoints: Sequence[IStreamServerEndpoint],
        config: ServerConfig,
        reactor: IReactorCore,
        security: Optional[Security] = None,
    ) -> None:
        """
        @param security: who is admitted and what they may do; by default
            anybody, everything.
        """
        self.broker = SubscriptionManager(config.limits)
        self.broker.on_work_due = self._work_due
        self.factory = EventServerFactory(self.broker, config, reactor, security=security)
        super().__init__(endpoints, self.factory)
        self._reactor = reactor
        self._work_call: Optional[IDelayedCall] = None
        self.uris: list[str] = []

    def _work_due(self) -> None:
        if self._work_call is None:
            self._work_call = self._reactor.callLater(0, self._work)

    def _work(self) -> None:
        """
        Do a unit of the broker's work (build a shard of patterns, drop
        subscriptions of clients that left), and come back next turn while
        more is due: a few milliseconds a turn, never the reactor's whole
        turn.
        """
        self._work_call = None
        if self.broker.work():
            self._work_due()

    def whenListening(self) -> Deferred:
        """
        A Deferred that fires with L{uris} once every endpoint listens and
        the banner is out, or fails with the reason an endpoint could not
        listen.
        """
        return super().whenListening().addCallback(lambda _: self.uris)

    def publish(
        self, subjects: Union[str, Sequence[str]], msg: Any, codec: Codec = JSON
    ) -> Deferred:
        """
        Publish from inside the server's own process, without a socket: what
        a client's publish does, for a Twisted program that runs the server.
        Fires with the events' timestamp once every subscriber's queue took
        them.

        @raise TypeError: if the codec cannot encode C{msg}.
        """
        subjects = [subjects] if isinstance(subjects, str) else list(subjects)
        now = self._reactor.seconds()
        full = self.factory.fanout.publish(now, subjects, codec.name, codec.encode(msg))
        return when_room(full).addCallback(lambda _: now)

    def startService(self) -> None:
        super().startService()
        self.factory.start_watching()

    def stopService(self) -> Deferred:
        """
        Stop gracefully: stop listening and stop reading commands, go on
        delivering what is queued for up to the configured shutdown time,
        log what is left undelivered, then close every connection.
        """
        super().stopService()
        self.factory.stop_watching()
        return self.stopListening().addCallback(
            lambda _: Deferred.fromCoroutine(self._drain_and_close())
        )

    async def _drain_and_close(self) -> None:
        seconds = self.factory.config.shutdown_seconds
        deadline = self._reactor.seconds() + seconds
        connections = list(self.factory.connections)
        for connection in connections:
            connection.hold_reading()
        # A DeferredList fires (with the cancellations) when time is up.
        drained = DeferredList(
            [c.queue.when_empty() for c in connections], consumeErrors=True
        )
        await drained.addTimeout(seconds, self._reactor)
        left = {c.peer: len(c.queue) for c in connections if len(c.queue)}
        if left:
            self.log.warn(
                "stopping with {events} events undelivered to {count} "
                "subscribers: {peers}",
                events=sum(left.values()),
                count=len(left),
                peers=", ".join(f"{peer} ({n})" for peer, n in left.items()),
            )
        self.log.info("Event Server stopped.")
        remaining = max(deadline - self._reactor.seconds(), CLOSE_SECONDS)
        await self.factory.disconnect_all(remaining)
        # Every client has gone: what they left behind is dropped now.
        if self._work_call is not None:
            self._work_call.cancel()
            self._work_call = None
        while self.broker.work():
            pass

    def listened(self, ports: list[IListeningPort]) -> Deferred:
        self.uris = [client_endpoint_for(port.getHost(), tls=_speaks_tls(port)) for port in ports]
        # Under twistd the ports are bound before the reactor runs and has
        # installed its signal handlers: announce once it has, so whoever
        # starts us on seeing the banner may also stop us with SIGTERM.
        announced: Deferred = Deferred()
        self._reactor.callWhenRunning(self._announce, announced)
        return announced

    def _announce(self, announced: Deferred) -> None:
        security = self.factory.security.describe()
        self.log.info(
            "logins: {authentication}; client certificates: {certificates}; "
            "anonymous clients: {anonymous}; access list: {acl}",
            authentication=security["authentication"],
            certificates="verified" if security["client_certificates"] else "not asked for",
            anonymous="admitted" if security["anonymous"] else "refused",
            acl=security["acl"],
        )
        for uri in self.uris:
            self.log.info("URI= {uri}", uri=uri)
        self.log.info("Event Server started.")
        announced.callback(None)


def _speaks_tls(port: IListeningPort) -> bool:
    """
    Whether a listening port wraps its connections in TLS, as the C{ssl:}
    endpoint's do: its factory is then Twisted's TLS wrapper of ours.
    """
    return isinstance(getattr(port, "factory", None), TLSMemoryBIOFactory)
