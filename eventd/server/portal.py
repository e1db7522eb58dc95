"""
Who a connection is, in twisted.cred's terms: credentials, the checkers
that turn them into a user name, and the realm that turns a name into the
L{Principal} a connection acts as.

A client proves who it is one of three ways: a SCRAM login (L{ScramProof}),
a client certificate TLS has verified (L{CertificateName}), or nothing at
all, where the server admits anonymous clients (cred's own C{Anonymous}).
Each way is a checker of the one L{Portal} the server makes
(L{make_portal}); a new way (PAM, LDAP) would be one more.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from scramp import ScramException
from twisted.cred.checkers import ANONYMOUS, AllowAnonymousAccess, ICredentialsChecker
from twisted.cred.credentials import ICredentials
from twisted.cred.error import UnauthorizedLogin
from twisted.cred.portal import IRealm, Portal
from twisted.internet.defer import Deferred, fail, succeed
from zope.interface import Attribute, Interface, implementer

from eventd.server.accounts import Accounts

if TYPE_CHECKING:  # scramp exports the server side only by its factory
    from scramp.core import ScramServer


class IPrincipal(Interface):
    """
    Who a connection acts as, once admitted.
    """

    user = Attribute("The user name, or None for an anonymous client.")
    method = Attribute("How it was admitted: 'scram', 'certificate' or 'anonymous'.")


@implementer(IPrincipal)
@dataclass(frozen=True)
class Principal:
    """
    Who a connection acts as: the name the access list knows it by, and
    how it proved it.
    """

    user: Optional[str]
    method: str

    def __str__(self) -> str:
        return "anonymous" if self.user is None else f"{self.user} ({self.method})"


ANONYMOUS_PRINCIPAL = Principal(None, "anonymous")


class IScramProof(ICredentials):
    """
    The end of a SCRAM exchange: the client's final message, to be checked
    against the exchange it ends.
    """

    server = Attribute("The scramp server side of the exchange, past its first message.")
    user = Attribute("The user name the client's first message gave.")
    message = Attribute("The client's final message, with its proof.")


@implementer(IScramProof)
@dataclass(frozen=True)
class ScramProof:
    server: "ScramServer"
    user: str
    message: str


class ICertificateName(ICredentials):
    """
    A client certificate that TLS verified against the server's client CA.
    """

    name = Attribute("The certificate's subject common name.")


@implementer(ICertificateName)
@dataclass(frozen=True)
class CertificateName:
    name: str


@implementer(ICredentialsChecker)
class ScramChecker:
    """
    Checks a SCRAM proof: only a client that knows the password (or whose
    keys were stolen from the server) can make one.
    """

    credentialInterfaces = (IScramProof,)

    def __init__(self, accounts: Accounts) -> None:
        self._accounts = accounts

    def requestAvatarId(self, credentials: IScramProof) -> Deferred:
        try:
            credentials.server.set_client_final(credentials.message)
        except ScramException:
            return fail(UnauthorizedLogin("wrong user name or password"))
        if not self._accounts.knows(credentials.user):  # a decoy's keys, matched?
            return fail(UnauthorizedLogin("wrong user name or password"))
        return succeed(credentials.user)


@implementer(ICredentialsChecker)
class CertificateChecker:
    """
    Takes a verified certificate's name as the user: TLS has done the
    checking.
    """

    credentialInterfaces = (ICertificateName,)

    def requestAvatarId(self, credentials: ICertificateName) -> Deferred:
        return succeed(credentials.name)


@implementer(IRealm)
class ClientRealm:
    """
    Makes the principal of an admitted connection; the mind cred passes
    along is the name of the way it was admitted.
    """

    def requestAvatar(self, avatarId, mind, *interfaces):
        if IPrincipal not in interfaces:
            raise NotImplementedError("eventd's realm makes only principals")
        if avatarId == ANONYMOUS:
            return IPrincipal, ANONYMOUS_PRINCIPAL, _nothing
        return IPrincipal, Principal(avatarId, mind), _nothing


def _nothing() -> None:
    """A principal needs nothing done when its connection ends."""


def make_portal(accounts: Optional[Accounts], anonymous: bool) -> Portal:
    """
    The portal of a server that admits the users of C{accounts} (if any)
    by SCRAM, the holders of verified client certificates, and (if
    C{anonymous}) anybody.
    """
    checkers: list[ICredentialsChecker] = [CertificateChecker()]
    if accounts is not None:
        checkers.append(ScramChecker(accounts))
    if anonymous:
        checkers.append(AllowAnonymousAccess())
    return Portal(ClientRealm(), checkers)


def log_in(portal: Portal, credentials: ICredentials, method: str) -> Deferred:
    """
    Fire with the L{Principal} these credentials make, or fail with
    C{UnauthorizedLogin}.  C{method} names the way, for the logs.
    """
    return portal.login(credentials, method, IPrincipal).addCallback(lambda result: result[1])
