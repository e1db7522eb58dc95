"""
Who may log in: the holder of the shared passphrase (C{--ident}, Pyro's
C{-i}) and the named users of a users file (C{--users}).

Both are known only by SCRAM's salted keys: the passphrase is turned into
them when the server starts and then forgotten, and the users file holds
nothing else.  A user nobody knows gets keys made up for the occasion, so
that the login's first answer looks the same for a name that exists and one
that does not: a client cannot probe for user names (PostgreSQL does the
same); it fails only at the proof, like a wrong password.
"""

import hashlib
import hmac
import os
from typing import Optional

from scramp import ScramMechanism

from eventd.server.users import DEFAULT_ITERATIONS, UsersFile

IDENT_USER = "ident"
"""The user a client that gives the shared passphrase logs in as."""

AuthInfo = tuple[bytes, bytes, bytes, int]
"""What SCRAM's server needs of a user: salt, stored key, server key,
iterations."""


class Accounts:
    """
    The users the server admits, by SCRAM's keys; the users file can be
    read again (L{reload}) while the server runs.
    """

    def __init__(self, ident: Optional[str] = None, users_path: Optional[str] = None) -> None:
        """
        @param ident: the shared passphrase, if any.
        @param users_path: the users file, if any.
        @raise eventd.server.users.UsersFileError: if the users file cannot
            be read, or is not one.
        @raise ValueError: if it names the passphrase's user.
        """
        self._mechanism = ScramMechanism()
        self._ident = None if not ident else self._mechanism.make_auth_info(ident)
        self._users_path = users_path
        self._users = self._read_users()
        self._decoy_key = os.urandom(32)

    @property
    def ident(self) -> bool:
        """
        Whether the shared passphrase admits clients.
        """
        return self._ident is not None

    @property
    def users(self) -> int:
        """
        How many named users there are.
        """
        return len(self._users) if self._users is not None else 0

    def knows(self, user: str) -> bool:
        """
        Whether C{user} may log in, with the right secret.
        """
        if user == IDENT_USER and self._ident is not None:
            return True
        return self._users is not None and user in self._users

    def auth_info(self, user: str) -> AuthInfo:
        """
        SCRAM's keys of C{user}: its own if it is known, else a decoy's,
        which no password matches.
        """
        if user == IDENT_USER and self._ident is not None:
            return self._ident
        known = self._users.auth_info(user) if self._users is not None else None
        return known if known is not None else self._decoy(user)

    def reload(self) -> None:
        """
        Read the users file again: users added may log in from now on,
        users removed no longer may (connections already logged in stay).

        @raise eventd.server.users.UsersFileError: if it cannot be read; the
            users read before stay in force.
        """
        self._users = self._read_users()

    def describe(self) -> str:
        """
        Who may log in, for the log and the figures.
        """
        parts = []
        if self._ident is not None:
            parts.append("the --ident passphrase")
        if self._users_path is not None:
            parts.append(f"{self.users} users of {self._users_path}")
        return " and ".join(parts) or "nobody"

    def _read_users(self) -> Optional[UsersFile]:
        if self._users_path is None:
            return None
        users = UsersFile.load(self._users_path)
        if self._ident is not None and IDENT_USER in users:
            raise ValueError(
                f"{self._users_path} names a user {IDENT_USER!r}, which is the user of "
                "the --ident passphrase: rename it"
            )
        return users

    def _decoy(self, user: str) -> AuthInfo:
        """
        Keys for an unknown user: the same salt each time it is asked for
        (a real user's salt does not change between two logins either), and
        keys nobody can match.
        """
        # As long as scramp's own salts, so that its length tells nothing.
        salt = hmac.new(self._decoy_key, user.encode(), hashlib.sha256).digest()
        return salt, os.urandom(32), os.urandom(32), DEFAULT_ITERATIONS
