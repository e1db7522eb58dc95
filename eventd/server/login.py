"""
Logging in: one connection's way from a stranger to a L{Principal}.

On a server that admits only known clients, a connection may send nothing
but L{Login} and L{LoginFinal} until it has logged in; the responders ask
L{Admission} whether it has.  The exchange is SCRAM-SHA-256 (RFC 5802 and
7677, done by the scramp library): the password never crosses the wire, the
server holds only salted keys, and the server's last message proves to the
client that it knows them too, so a client cannot be fooled by an impostor
that merely accepts everything.

Once a host has failed, its logins are checked one at a time and ever
further apart (L{LoginThrottle}); a failure is logged with the peer and the
user name tried, and counted; a connection gets L{ATTEMPTS} tries, and is
closed after as many failures.
"""

from typing import TYPE_CHECKING, Callable, Optional

from scramp import ScramException, ScramMechanism
from twisted.cred.credentials import Anonymous
from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import Portal
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.python.failure import Failure

from eventd.errors import LoginFailed
from eventd.server.accounts import Accounts
from eventd.server.counters import Counters
from eventd.server.logbudget import LogBudget
from eventd.server.portal import CertificateName, Principal, ScramProof, log_in
from eventd.server.throttle import LoginThrottle
from eventd.wire.commands import SCRAM_SHA_256

if TYPE_CHECKING:  # scramp exports the server side only by its factory
    from scramp.core import ScramServer

ATTEMPTS = 3
"""Logins one connection may try; after as many failures it is closed."""

NAME_SHOWN = 64
"""How much of a user name a log line shows."""


class Admission:
    """
    Whether one connection has been admitted, and its login exchange.

    @ivar principal: who the connection acts as, once admitted.
    """

    log = Logger()

    def __init__(
        self,
        portal: Portal,
        accounts: Optional[Accounts],
        throttle: LoginThrottle,
        clock: IReactorTime,
        counters: Counters,
        quiet: LogBudget,
        *,
        peer: str,
        host: str,
        admitted: Callable[[Principal], None],
        exhausted: Callable[[str], None],
    ) -> None:
        """
        @param accounts: the users who may log in, or None if nobody may
            (the server admits anonymous clients or certificates only).
        @param peer: the connection's name in logs.
        @param host: the address its failures are counted under.
        @param admitted: called with the principal once it is admitted.
        @param exhausted: called with a reason once the connection has
            failed L{ATTEMPTS} times: it should be closed.
        """
        self._portal = portal
        self._accounts = accounts
        self._throttle = throttle
        self._clock = clock
        self._counters = counters
        self._quiet = quiet
        self._peer = peer
        self._host = host
        self._admitted = admitted
        self._exhausted = exhausted
        self._exchange: Optional[tuple["ScramServer", str]] = None
        self._tries = 0
        self._failures = 0
        self.principal: Optional[Principal] = None

    def admit_anonymously(self) -> Deferred:
        """
        Admit the connection as an anonymous client, if the server does;
        fires with whether it did.
        """
        answer = log_in(self._portal, Anonymous(), "anonymous")
        return answer.addCallbacks(self._admit_quietly, lambda _: False)

    def admit_certificate(self, name: str) -> Deferred:
        """
        Admit the connection as the user its verified client certificate
        names.
        """
        return log_in(self._portal, CertificateName(name), "certificate").addCallback(self._admit)

    def begin(self, mechanism: str, message: str) -> dict:
        """
        The client's first SCRAM message: answer with the server's first.

        @raise LoginFailed: if the server takes no logins, the mechanism is
            not SCRAM-SHA-256, or the message is not one.
        """
        if self._accounts is None:
            raise LoginFailed(
                "this server has no users to log in as: it runs without --ident and "
                "--users"
            )
        self._check_tries_left()
        if self.principal is not None and self.principal.user is not None:
            raise LoginFailed(f"this connection is logged in already, as {self.principal}")
        if mechanism != SCRAM_SHA_256:
            raise LoginFailed(f"no login mechanism {mechanism!r}: the server offers {SCRAM_SHA_256}")
        accounts = self._accounts
        named: list[str] = []

        def keys_of(user: str):
            named.append(user)
            return accounts.auth_info(user)

        server = ScramMechanism(SCRAM_SHA_256).make_server(keys_of)
        try:
            server.set_client_first(message)
            first = server.get_server_first()
        except ScramException as e:
            raise LoginFailed(f"not a SCRAM client-first message: {e}") from None
        self._exchange = (server, named[0])
        return {"message": first}

    def end(self, message: str) -> Deferred:
        """
        The client's final SCRAM message, with its proof: check it once the
        throttle lets this host's next check run, and fire with the
        server's final message (its signature) and the user, or fail with
        L{LoginFailed}.
        """
        if self._exchange is None:
            return fail(LoginFailed("login_final came without a login before it"))
        try:
            self._check_tries_left()
        except LoginFailed:
            return fail()
        self._tries += 1
        (server, user), self._exchange = self._exchange, None

        def check(_: object) -> Deferred:
            return log_in(self._portal, ScramProof(server, user, message), "scram")

        def welcome(_: object) -> dict:
            return {"message": server.get_server_final(), "user": user}

        wait = self._throttle.reserve(self._host)
        checked = deferLater(self._clock, wait, lambda: None) if wait else succeed(None)
        return checked.addCallback(check).addCallback(self._admit).addCallbacks(
            welcome, self._failed, errbackArgs=(user,)
        )

    def _check_tries_left(self) -> None:
        """
        @raise LoginFailed: at once, if this connection has tried as often
            as it may: a client that sends many logins without waiting for
            the answers must not hold as many checks waiting for their turn
            (it is about to be closed).
        """
        if self._tries >= ATTEMPTS:
            raise LoginFailed(f"this connection has tried to log in {ATTEMPTS} times")

    def _admit_quietly(self, principal: Principal) -> bool:
        self.principal = principal
        self._admitted(principal)
        return True

    def _admit(self, principal: Principal) -> None:
        if principal.method == "scram":
            self._throttle.checked(self._host)
        self._admit_quietly(principal)
        self._counters.logins[principal.method] += 1
        also = self._quiet.allow()
        if also is not None:
            self.log.info(
                "client {peer} logged in as {principal}{also}",
                peer=self._peer,
                principal=principal,
                also=also,
            )

    def _failed(self, failure: Failure, user: str) -> None:
        failure.trap(UnauthorizedLogin, ScramException)
        self._failures += 1
        self._counters.login_failures += 1
        self._throttle.failed(self._host)
        also = self._quiet.allow()
        if also is not None:
            self.log.warn(
                "client {peer} failed to log in as {user!r} ({failures} of {attempts} "
                "tries){also}",
                peer=self._peer,
                user=user[:NAME_SHOWN],
                failures=self._failures,
                attempts=ATTEMPTS,
                also=also,
            )
        if self._failures >= ATTEMPTS:
            # After the refusal is answered (AMP sends it as this returns).
            self._clock.callLater(
                0, self._exhausted, f"{self._failures} failed logins on one connection"
            )
        raise LoginFailed("wrong user name or password")
