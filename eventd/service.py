"""
The event server as a Twisted service: listen, announce, stop.
"""

from typing import Any, Optional, Sequence, Union

from twisted.application.service import Service
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.interfaces import (
    IListeningPort,
    IReactorCore,
    IStreamServerEndpoint,
)
from twisted.logger import Logger
from twisted.python.failure import Failure

from eventd.addresses import client_endpoint_for
from eventd.broker import SubscriptionManager
from eventd.codecs import JSON, Codec
from eventd.config import ServerConfig
from eventd.protocol import EventServerFactory
from eventd.session import fan_out


CLOSE_SECONDS = 5.0
"""How long connections may take to close when the server stops."""


class EventService(Service):
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
    ) -> None:
        self.broker = SubscriptionManager()
        self.factory = EventServerFactory(self.broker, config, reactor)
        self._reactor = reactor
        self.uris: list[str] = []
        self.started_at: Optional[float] = None
        self._endpoints = list(endpoints)
        self._ports: list[IListeningPort] = []
        self._listening: Optional[Deferred] = None
        self._failure: Optional[Failure] = None

    def privilegedStartService(self) -> None:
        """
        Listen on every endpoint, before twistd drops privileges (so a port
        below 1024 can be bound).  A port that cannot be bound at once (it is
        taken, say) raises here, so twistd stops with the reason instead of
        running a server that listens nowhere.
        """
        super().privilegedStartService()
        self._listening = gatherResults(
            [endpoint.listen(self.factory) for endpoint in self._endpoints],
            consumeErrors=True,
        ).addCallbacks(self._started, self._not_started)
        if self._failure is not None:
            self._failure.raiseException()

    def startService(self) -> None:
        super().startService()
        if self._listening is None:
            self.privilegedStartService()

    def whenListening(self) -> Deferred:
        """
        A Deferred that fires with L{uris} once every endpoint listens and
        the banner is out, or fails with the reason an endpoint could not
        listen.
        """
        told: Deferred = Deferred()

        def tell(result: object) -> object:
            if self._failure is None:
                told.callback(self.uris)
            else:
                told.errback(self._failure)
            return result

        self._listening.addBoth(tell)
        return told

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
        waits = fan_out(
            self.broker, self.factory.config, now, subjects, codec.name, codec.encode(msg)
        )
        return gatherResults(waits).addCallback(lambda _: now)

    def stopService(self) -> Deferred:
        """
        Stop listening, then close every connection (aborting those that
        have not closed within L{CLOSE_SECONDS}).
        """
        super().stopService()
        ports, self._ports = self._ports, []
        self._listening = None
        stopped = gatherResults([port.stopListening() for port in ports])
        return stopped.addCallback(
            lambda _: self.factory.disconnect_all(CLOSE_SECONDS)
        )

    def _started(self, ports: list[IListeningPort]) -> Deferred:
        self.started_at = self._reactor.seconds()
        self._ports = ports
        self.uris = [client_endpoint_for(port.getHost()) for port in ports]
        # Under twistd the ports are bound before the reactor runs and has
        # installed its signal handlers: announce once it has, so whoever
        # starts us on seeing the banner may also stop us with SIGTERM.
        announced: Deferred = Deferred()
        self._reactor.callWhenRunning(self._announce, announced)
        return announced

    def _announce(self, announced: Deferred) -> None:
        for uri in self.uris:
            self.log.info("URI= {uri}", uri=uri)
        self.log.info("Event Server started.")
        announced.callback(None)

    def _not_started(self, failure: Failure) -> None:
        self._failure = failure.value.subFailure
        self.log.error(
            "cannot listen: {reason}", reason=self._failure.getErrorMessage()
        )
