"""
Logging in to a server that admits only known clients: SCRAM-SHA-256 over
the L{Login} and L{LoginFinal} commands (docs/protocol.md, section 6).

The client checks the server's final message, which only a server that
holds the user's keys can make: a client is never fooled into talking to an
impostor that merely says yes.
"""

from dataclasses import dataclass, field
from typing import Optional

from scramp import ScramClient, ScramException

from eventd.errors import LoginFailed
from eventd.wire.commands import SCRAM_SHA_256, Login, LoginFinal

IDENT_USER = "ident"
"""The user the shared passphrase (Pyro's ident) logs in as."""


@dataclass(frozen=True)
class Credentials:
    """
    Who a client logs in as.  The password stays out of C{repr}, so that
    it is never in a log or a traceback.
    """

    user: str
    password: str = field(repr=False)

    @classmethod
    def chosen(
        cls, ident: Optional[str] = None, user: Optional[str] = None,
        password: Optional[str] = None,
    ) -> Optional["Credentials"]:
        """
        The credentials a client's arguments give: a shared passphrase
        (C{ident}), or a user and a password, or none.

        @raise ValueError: if they are given both ways, or half of one.
        """
        if ident is not None and (user is not None or password is not None):
            raise ValueError("give ident, or user and password, not both")
        if ident is not None:
            return cls(IDENT_USER, ident)
        if (user is None) != (password is None):
            raise ValueError("a user needs a password, and a password a user")
        return None if user is None else cls(user, password)


async def log_in(protocol, credentials: Credentials) -> str:
    """
    Log in on a connection (an L{eventd.client.connection.ClientProtocol});
    return the user the server says it now acts as.

    @raise LoginFailed: if the server refuses, or cannot prove that it
        knows the user's keys.
    """
    scram = ScramClient([SCRAM_SHA_256], credentials.user, credentials.password)
    first = await protocol.call(Login, mechanism=SCRAM_SHA_256, message=scram.get_client_first())
    try:
        scram.set_server_first(first["message"])
        final_message = scram.get_client_final()
    except ScramException as e:
        raise LoginFailed(f"the server's answer to the login is not SCRAM's: {e}") from None
    final = await protocol.call(LoginFinal, message=final_message)
    try:
        scram.set_server_final(final["message"])
    except ScramException:
        raise LoginFailed(
            "the server could not prove that it knows the password: it is not the "
            "server it claims to be"
        ) from None
    return final["user"]
