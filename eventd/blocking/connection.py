"""
A blocking program's connection to the server: an L{EventClient} in the
reactor thread that crochet runs, used from the program's own threads.
"""

from typing import Any, Callable, Optional

import crochet
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from eventd.blocking.reactor_thread import wait_for
from eventd.client import EventClient, connect, server_address
from eventd.errors import CannotConnect

CONNECT_SECONDS = 5.0
"""How long a client tries to reach the server before giving up."""

_log = Logger()


class BlockingConnection:
    """
    One Twisted client, in the reactor thread, used from this one.

    @param ident: Pyro's authentication passphrase; accepted so ported code
        runs, but eventd has no authentication yet.
    @param esURI: the server's address: its banner's C{URI=} value or any
        Twisted client endpoint string.  By default the EVENTD_ENDPOINT
        environment variable, else C{tcp:127.0.0.1:7766}.
    @param codec: how messages are encoded: C{json} or C{raw}.
    @raise CannotConnect: (also known as C{NamingError}) if no server answers
        within L{CONNECT_SECONDS}.
    """

    def __init__(self, ident: Optional[str], esURI: Optional[str], codec: str) -> None:
        if ident is not None:
            _log.warn("eventd has no authentication yet: the ident passphrase is ignored")
        self.address = server_address(esURI)
        try:
            self.client: EventClient = wait_for(
                connect, self.address, None, codec, timeout=CONNECT_SECONDS
            )
        except crochet.TimeoutError:
            raise CannotConnect(
                f"no event server answered at {self.address} "
                f"within {CONNECT_SECONDS:g} seconds"
            ) from None
        except Exception as e:
            raise CannotConnect(
                f"cannot reach the event server at {self.address}: {e}"
            ) from e
        # crochet stops the reactor when the program exits: close quietly
        # then, rather than have the client mourn a lost connection.
        reactor.callFromThread(
            reactor.addSystemEventTrigger, "before", "shutdown", self.client.close
        )

    def call(self, method: Callable[..., Deferred], *args: Any) -> Any:
        """
        Call a method of the client in the reactor thread and wait for the
        server's answer.
        """
        return wait_for(method, *args)

    def close(self) -> None:
        wait_for(self.client.close, timeout=CONNECT_SECONDS)
