"""
What the server asks of its clients and what it lets them do, in one
place: who may log in, whether anonymous clients are admitted, whether TLS
client certificates name users, and the access list.

The files behind it (the users file and the access list) are read when the
server starts, where a mistake stops it with one line, and again on SIGHUP
(L{Security.reload}), where a mistake keeps what was in force and is
logged: a typo must never open the server, nor close it to everyone.
"""

from typing import Any, Optional

from twisted.cred.portal import Portal
from twisted.logger import Logger

from eventd.server.accounts import Accounts
from eventd.server.permissions import ALLOW_ALL, AccessList, AccessListError, Grants
from eventd.server.portal import make_portal
from eventd.server.users import UsersFileError


class Security:
    """
    The server's admission and permissions.

    @ivar accounts: who may log in by SCRAM, if anybody.
    @ivar login_required: whether a connection must log in (or show a
        verified client certificate) before any other command.
    @ivar portal: where connections are admitted.
    @ivar access: the access list in force, if any; without one every
        admitted client may do everything.
    """

    log = Logger()

    def __init__(
        self,
        accounts: Optional[Accounts] = None,
        acl_path: Optional[str] = None,
        *,
        allow_anonymous: bool = False,
        client_certificates: bool = False,
    ) -> None:
        """
        @param allow_anonymous: admit clients that do not log in, even
            where there are accounts or client certificates.
        @param client_certificates: whether TLS ports verify client
            certificates, whose names are users.
        @raise AccessListError: if the access list cannot be read.
        """
        self.accounts = accounts
        self.client_certificates = client_certificates
        self.credentials = accounts is not None or client_certificates
        self.login_required = self.credentials and not allow_anonymous
        self.portal: Portal = make_portal(accounts, anonymous=not self.login_required)
        self._acl_path = acl_path
        self.access: Optional[AccessList] = AccessList.load(acl_path) if acl_path else None

    def grants_for(self, user: Optional[str]) -> Grants:
        """
        What C{user} (None: an anonymous client) may do now.
        """
        return ALLOW_ALL if self.access is None else self.access.grants_for(user)

    def reload(self) -> bool:
        """
        Read the users file and the access list again, keeping what was in
        force of any that cannot be read (and logging why).

        @return: whether the access list changed, so that what subscribers
            receive must be worked out again.
        """
        if self.accounts is not None:
            try:
                self.accounts.reload()
            except (UsersFileError, ValueError) as e:
                self.log.error("kept the users read before: {reason}", reason=str(e))
            else:
                self.log.info("reread the users: {users}", users=self.accounts.describe())
        if self._acl_path is None:
            return False
        try:
            self.access = AccessList.load(self._acl_path)
        except AccessListError as e:
            self.log.error("kept the access list read before: {reason}", reason=str(e))
            return False
        self.log.info("reread the access list: {acl}", acl=self.access.describe())
        return True

    def describe(self) -> dict[str, Any]:
        """
        What is in force, for the startup log and the figures.
        """
        return {
            "authentication": self.accounts.describe() if self.accounts else "none",
            "client_certificates": self.client_certificates,
            "anonymous": not self.login_required,
            "acl": self.access.describe() if self.access is not None else "none",
        }
