"""
A blocking program's connection to the server: an L{EventClient} in the
reactor thread that crochet runs, used from the program's own threads.
"""

from functools import partial
from typing import Any, Callable, Optional, Sequence, Union

import os

import crochet
from twisted.internet import reactor
from twisted.internet.defer import Deferred

from eventd.blocking.reactor_thread import wait_for
from eventd.client import EventClient, connect, server_address
from eventd.client.login import Credentials
from eventd.errors import CannotConnect, LoginFailed

CONNECT_SECONDS = 5.0
"""How long a client tries to reach the server before giving up."""

class BlockingConnection:
    """
    One Twisted client, in the reactor thread, used from this one.

    @param ident: the server's shared passphrase (its C{--ident}, Pyro's
        C{-i}); by default the EVENTD_IDENT environment variable, if set.
    @param esURI: the server's address: its banner's C{URI=} value or any
        Twisted client endpoint string; or several (a list, or one string
        separated by spaces), tried in turn, and failed over to when the
        one reached is lost.  By default the EVENTD_ENDPOINT environment
        variable, else C{tcp:127.0.0.1:7766}.
    @param codec: how messages are encoded: C{json} or C{raw}.
    @param user: instead of C{ident}, a user of the server's C{--users},
        with its C{password}.
    @raise CannotConnect: (also known as C{NamingError}) if no server answers
        within L{CONNECT_SECONDS}.
    @raise LoginFailed: (also known as C{ConnectionDeniedError}) if the
        server refuses the passphrase, or the user and password.
    """

    def __init__(
        self,
        ident: Optional[str],
        esURI: Union[None, str, Sequence[str]],
        codec: str,
        user: Optional[str] = None,
        password: Optional[str] = None,
    ) -> None:
        if ident is None and user is None:
            ident = os.environ.get("EVENTD_IDENT") or None
        Credentials.chosen(ident, user, password)  # a ValueError here, not a CannotConnect
        self.address = server_address(esURI)
        connecting = partial(connect, ident=ident, user=user, password=password)
        try:
            self.client: EventClient = wait_for(
                connecting, self.address, None, codec, timeout=CONNECT_SECONDS
            )
        except LoginFailed as e:
            raise LoginFailed(f"the event server at {self.address} refused the login: {e}") from None
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
