"""
The named users of a C{--users} file, and what the server needs to check
their SCRAM-SHA-256 logins (RFC 5802, RFC 7677).

The file holds no password, only what SCRAM derives from one, so a stolen
copy lets nobody log in without first guessing each password.  One user a
line: the name, a colon, then the secret in PostgreSQL's format::

    # comments and blank lines are allowed
    alice:SCRAM-SHA-256$4096:<salt>$<StoredKey>:<ServerKey>

with the salt and keys in standard base64.  C{eventd passwd FILE USER}
writes the lines.

A user name is 1 to 64 printable ASCII characters, without spaces, C{:}
(which ends the name), C{,} or C{=} (which SCRAM would have to escape), and
not starting with C{#} (which would make its line a comment).  Printable
ASCII is what SASLprep leaves as it is, so the name a client logs in with
is the name written here.
"""

import binascii
import re
from base64 import b64decode, b64encode
from typing import Iterable, Optional

from scramp import ScramException, ScramMechanism

DEFAULT_ITERATIONS = 4096
# scramp refuses fewer (RFC 7677's minimum) or more (its guard against a
# secret that would make each login a denial of service).
MIN_ITERATIONS = 4096
MAX_ITERATIONS = 10_000_000

MAX_NAME_LENGTH = 64
MECHANISM = "SCRAM-SHA-256"
KEY_BYTES = 32
"""The length of a SHA-256 StoredKey and ServerKey."""
MIN_SALT_BYTES = 12
"""The shortest salt scramp accepts at login."""

AuthInfo = tuple[bytes, bytes, bytes, int]
"""What scramp's C{auth_fn} returns: salt, StoredKey, ServerKey, iterations."""

_SECRET = re.compile(r"([0-9]+):([^$:]*)\$([^$:]*):([^$:]*)")
"""A secret after its C{SCRAM-SHA-256$}: iterations, salt, StoredKey, ServerKey."""


class UsersFileError(ValueError):
    """
    A users file cannot be read or has a bad line.  The message names the
    file and the line, never what the line holds after the user's name:
    it goes into logs, and that part is the secret.
    """


def check_user_name(name: str) -> str:
    """
    Refuse a name SCRAM could not carry as it is, or this file could not
    hold.

    @return: C{name}.
    @raise ValueError: saying what is wrong with it.
    """
    if not name:
        raise ValueError("the user name is empty")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"the user name is longer than {MAX_NAME_LENGTH} characters")
    if not (name.isascii() and name.isprintable()):
        raise ValueError("the user name may hold printable ASCII characters only")
    for character in " :,=":
        if character in name:
            raise ValueError(f"the user name may not contain {character!r}")
    if name.startswith("#"):
        raise ValueError("the user name may not start with '#'")
    return name


def check_iterations(iterations: int) -> int:
    """
    Refuse an iteration count scramp would refuse at login.

    @return: C{iterations}.
    @raise ValueError: if it is out of range.
    """
    if not MIN_ITERATIONS <= iterations <= MAX_ITERATIONS:
        raise ValueError(
            f"the iteration count must be {MIN_ITERATIONS} to {MAX_ITERATIONS}"
        )
    return iterations


def scram_entry(user: str, password: str, iterations: int = DEFAULT_ITERATIONS) -> str:
    """
    The line of a users file that lets C{user} log in with C{password},
    with a fresh random salt (without a newline).

    @raise ValueError: for a bad name, an iteration count out of range, or
        a password that is empty or that SASLprep refuses.
    """
    check_user_name(user)
    check_iterations(iterations)
    if not password:
        raise ValueError("the password is empty")
    try:
        salt, stored_key, server_key, _ = ScramMechanism(MECHANISM).make_auth_info(
            password, iteration_count=iterations
        )
    except ScramException as error:
        raise ValueError(f"the password is not usable: {error}") from None
    keys = [b64encode(key).decode("ascii") for key in (salt, stored_key, server_key)]
    return f"{user}:{MECHANISM}${iterations}:{keys[0]}${keys[1]}:{keys[2]}"


def entry_user(line: str) -> Optional[str]:
    """
    The user a line of a users file is for, or L{None} for a comment or a
    blank line; so a tool can replace one user's line and keep the rest.
    """
    text = line.strip()
    if not text or text.startswith("#"):
        return None
    return text.split(":", 1)[0]


def read_lines(path: str) -> list[str]:
    """
    The lines of the file at C{path}, each with its newline, for
    L{UsersFile.from_lines} or for a tool that rewrites some of them.

    @raise UsersFileError: if it cannot be read, or is not UTF-8.
    """
    try:
        with open(path, encoding="utf-8") as file:
            return file.readlines()
    except OSError as error:
        raise UsersFileError(f"{path}: cannot read it: {error.strerror}") from None
    except UnicodeDecodeError:
        raise UsersFileError(f"{path}: not UTF-8 text") from None


class UsersFile:
    """
    The users of a C{--users} file: name -> SCRAM auth info.

    @ivar names: the users' names, sorted, for logs.
    """

    def __init__(self, users: dict[str, AuthInfo]) -> None:
        """
        @param users: each user's auth info, by name.
        """
        self._users = users
        self.names = tuple(sorted(users))

    @classmethod
    def load(cls, path: str) -> "UsersFile":
        """
        Read the file at C{path}.

        @raise UsersFileError: if it cannot be read, has a bad line, or
            names a user twice.
        """
        return cls.from_lines(read_lines(path), path)

    @classmethod
    def from_lines(cls, lines: Iterable[str], name: str = "<users>") -> "UsersFile":
        """
        The users of a file's lines, C{name} being the file for errors.

        @raise UsersFileError: for a bad line, or a user named twice.
        """
        users: dict[str, AuthInfo] = {}
        first_lines: dict[str, int] = {}
        for number, line in enumerate(lines, 1):
            user = entry_user(line)
            if user is None:
                continue
            try:
                info = _parse_entry(user, line.strip())
            except ValueError as error:
                raise UsersFileError(f"{name} line {number}: {error}") from None
            if user in users:
                raise UsersFileError(
                    f"{name} line {number}: user {user} is already on line "
                    f"{first_lines[user]}"
                )
            users[user] = info
            first_lines[user] = number
        return cls(users)

    def auth_info(self, user: str) -> Optional[AuthInfo]:
        """
        C{user}'s salt, StoredKey, ServerKey and iterations, or L{None} for
        an unknown user: the C{auth_fn} scramp's C{make_server} takes.
        """
        return self._users.get(user)

    def __len__(self) -> int:
        return len(self._users)

    def __contains__(self, user: object) -> bool:
        return user in self._users


def _parse_entry(user: str, text: str) -> AuthInfo:
    """
    The auth info of one entry, C{user} being the text before its first
    colon.  Errors quote nothing of the line: a user who typed a password
    where the name goes would find it in the server's log.

    @raise ValueError: saying what is wrong.
    """
    if text == user:
        raise ValueError("no ':' after the user name")
    check_user_name(user)
    mechanism, dollar, secret = text[len(user) + 1:].partition("$")
    if mechanism != MECHANISM or not dollar:
        raise ValueError(f"the secret is not a {MECHANISM} secret")
    parts = _SECRET.fullmatch(secret)
    if parts is None:
        raise ValueError(
            f"the secret is not {MECHANISM}$ITERATIONS:SALT$STOREDKEY:SERVERKEY"
        )
    iterations = check_iterations(int(parts.group(1)))
    salt, stored_key, server_key = (
        _base64(parts.group(n), what) for n, what in
        ((2, "salt"), (3, "StoredKey"), (4, "ServerKey"))
    )
    if len(salt) < MIN_SALT_BYTES:
        raise ValueError(f"the salt is shorter than {MIN_SALT_BYTES} bytes")
    if len(stored_key) != KEY_BYTES or len(server_key) != KEY_BYTES:
        raise ValueError(f"the StoredKey and ServerKey must be {KEY_BYTES} bytes each")
    return salt, stored_key, server_key, iterations




def _base64(text: str, what: str) -> bytes:
    """
    C{text} decoded as strict standard base64.

    @raise ValueError: naming C{what}, not quoting C{text}.
    """
    try:
        return b64decode(text, validate=True)
    except binascii.Error:
        raise ValueError(f"the {what} is not base64") from None
