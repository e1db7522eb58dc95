"""
Running the event server from inside a program: Pyro 3's
C{EventServiceStarter}, as its AllInOne example uses it.

    starter = EventServiceStarter()
    threading.Thread(target=starter.start, kwargs={"port": 0}, daemon=True).start()
    starter.waitUntilStarted(10)
    Publisher(esURI=starter.uri).publish("news", "hello")
    ...
    starter.shutdown()

Every starter of a process runs its server in the one reactor thread that
crochet starts (the same one eventd's blocking clients use), each server
with its own port and its own subscriptions; several starters in one process
(tests do that) are fine.  A program that runs a Twisted reactor of its own
should instead add an L{eventd.server.EventService} to its application.
"""

import threading
from typing import Optional

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import quoteStringArgument, serverFromString

from eventd.blocking.reactor_thread import wait_for
from eventd.server.accounts import Accounts
from eventd.server.config import (
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_QUEUE_SIZE,
    ServerConfig,
    WhenFull,
)
from eventd.server.security import Security
from eventd.server.service import EventService
from eventd.wire.addresses import DEFAULT_HOST, DEFAULT_PORT

STOP_SECONDS = 10.0
"""How long shutdown may take to close the server's connections."""


class EventServiceStarter:
    """
    Starts an event server in this process and stops it again.

    @ivar uri: once started, the address clients use: what the banner prints
        after C{URI=}, e.g. C{tcp:127.0.0.1:40213}, naming the port really
        bound.
    """

    def __init__(self) -> None:
        self.uri: Optional[str] = None
        self._started = threading.Event()
        self._stopping = threading.Event()

    def start(
        self,
        hostname: str = DEFAULT_HOST,
        port: int = DEFAULT_PORT,
        queue_size: int = DEFAULT_QUEUE_SIZE,
        when_full: str = WhenFull.BLOCK.value,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        ident: Optional[str] = None,
    ) -> None:
        """
        Run the server until L{shutdown}: this blocks, so run it in a thread
        of its own.  C{port=0} lets the system pick a free port (see
        L{uri}).  With C{ident} (Pyro's passphrase), only clients that give
        it are admitted.

        @raise twisted.internet.error.CannotListenError: if the port cannot
            be bound.
        """
        config = ServerConfig(
            queue_size=queue_size,
            when_full=WhenFull(when_full),
            max_message_bytes=max_message_bytes,
        )
        endpoint = f"tcp:{port}:interface={quoteStringArgument(hostname)}"
        security = Security(Accounts(ident)) if ident else Security()
        service = wait_for(self._listen, endpoint, config, security)
        self.uri = service.uris[0]
        self._started.set()
        try:
            self._stopping.wait()
        finally:
            wait_for(service.stopService, timeout=STOP_SECONDS)

    def waitUntilStarted(self, timeout: Optional[float] = None) -> bool:
        """
        Wait until the server listens; True if it does, False if C{timeout}
        seconds passed first.
        """
        return self._started.wait(timeout)

    def shutdown(self) -> None:
        """
        Stop the server: close its port and connections, and make L{start}
        return.
        """
        self._stopping.set()

    @staticmethod
    def _listen(endpoint: str, config: ServerConfig, security: Security) -> Deferred:
        service = EventService([serverFromString(reactor, endpoint)], config, reactor, security)
        service.startService()
        return service.whenListening().addCallback(lambda _: service)
