"""
C{eventd passwd [--iterations N | --delete] FILE USER}: add, replace or
delete one user of a C{--users} file, as C{mosquitto_passwd} does for
Mosquitto's.  The file's format is in L{eventd.server.users}.

The file is rewritten whole and put in place with one rename, so a server
reading it sees the old file or the new one, never half of either; every
other line, comments included, is kept as it was.
"""

import getpass
import os
import stat
import sys
import tempfile
from argparse import ArgumentTypeError, Namespace

from eventd.cli.connected import Subparsers
from eventd.server.users import (
    DEFAULT_ITERATIONS,
    MAX_ITERATIONS,
    MIN_ITERATIONS,
    UsersFile,
    check_iterations,
    check_user_name,
    entry_user,
    read_lines,
    scram_entry,
)

PRIVATE = 0o600
"""The most a secrets file may let anyone do: its owner reads and writes."""


def add_passwd(subcommands: Subparsers) -> None:
    """
    C{eventd passwd FILE USER}: one user's line of a users file.
    """
    parser = subcommands.add_parser(
        "passwd",
        help="add, replace or delete a user of a --users file",
        description="Set USER's password in FILE, the server's --users file, creating "
        "it if missing: FILE keeps only SCRAM-SHA-256 keys derived from the password, "
        "never the password. On a terminal it asks for the password twice; otherwise "
        "it reads the first line of standard input. Every other line of FILE is kept; "
        "FILE is replaced in one rename, readable by its owner only.",
    )
    parser.add_argument("file", metavar="FILE", help="the users file")
    parser.add_argument("user", metavar="USER", type=_user, help="the user's name")
    change = parser.add_mutually_exclusive_group()
    change.add_argument(
        "--iterations",
        metavar="N",
        type=_iterations,
        default=DEFAULT_ITERATIONS,
        help=f"PBKDF2 iterations of the new secret, {MIN_ITERATIONS} to "
        f"{MAX_ITERATIONS}; more make each login, and each guess of a stolen "
        f"file, slower (default: {DEFAULT_ITERATIONS})",
    )
    change.add_argument(
        "--delete", action="store_true", help="remove USER from FILE instead"
    )
    parser.set_defaults(run=_passwd)


def _user(text: str) -> str:
    """A name the users file can hold, or a usage error saying why not."""
    try:
        return check_user_name(text)
    except ValueError as error:
        raise ArgumentTypeError(str(error)) from None


def _iterations(text: str) -> int:
    """An iteration count scramp accepts, or a usage error."""
    try:
        return check_iterations(int(text))
    except ValueError:
        raise ArgumentTypeError(
            f"must be a whole number from {MIN_ITERATIONS} to {MAX_ITERATIONS}"
        ) from None


def _passwd(args: Namespace) -> None:
    """
    Rewrite the file with USER's line added, replaced or removed; say which
    on stderr.  What the user must fix is one line on stderr, with status 1.
    """
    # A symbolic link stays one: its target is what gets replaced.
    path = os.path.realpath(args.file)
    try:
        lines = _valid_lines(path)
        found = any(entry_user(line) == args.user for line in lines)
        if args.delete:
            if not found:
                raise ValueError(f"no user {args.user} in {path}")
            verb = "deleted"
            lines = [line for line in lines if entry_user(line) != args.user]
        else:
            entry = scram_entry(args.user, _password(), args.iterations) + "\n"
            if found:
                verb = "replaced"
                lines = [entry if entry_user(line) == args.user else line for line in lines]
            else:
                verb = "added"
                if lines and not lines[-1].endswith("\n"):
                    lines[-1] += "\n"
                lines.append(entry)
        _replace(path, "".join(lines))
        UsersFile.load(path)
    except ValueError as error:
        raise SystemExit(f"eventd passwd: {error}") from None
    except OSError as error:
        raise SystemExit(f"eventd passwd: cannot write {path}: {error.strerror}") from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    sys.stderr.write(f"{verb} {args.user}\n")


def _valid_lines(path: str) -> list[str]:
    """
    The file's lines (none if it is missing); a file the server would
    refuse is refused rather than rewritten.

    @raise eventd.server.users.UsersFileError: if it cannot be read or is
        not a valid users file.
    """
    if not os.path.exists(path):
        return []
    lines = read_lines(path)
    UsersFile.from_lines(lines, path)
    return lines


def _password() -> str:
    """
    The new password: asked for twice, without echo, on a terminal; else
    the first line of standard input, so scripts can pipe it in.

    @raise ValueError: if the two answers differ.
    """
    if not sys.stdin.isatty():
        return sys.stdin.readline().removesuffix("\n")
    password = _ask("Password: ")
    if _ask("Again: ") != password:
        raise ValueError("the passwords do not match")
    return password


def _ask(prompt: str) -> str:
    """One answer typed without echo; end of input (Ctrl-D) is none."""
    try:
        return getpass.getpass(prompt)
    except EOFError:
        return ""


def _replace(path: str, text: str) -> None:
    """
    Put a file holding C{text} at C{path} in one rename, readable by no one
    but its owner: a file already there keeps its owner, and its mode if
    that is no more open than L{PRIVATE}.

    @raise OSError: if the new file cannot be written, or cannot be given
        the old one's owner.
    """
    try:
        old = os.stat(path)
    except FileNotFoundError:
        old = None
    descriptor, temporary = tempfile.mkstemp(
        prefix=f".{os.path.basename(path)}.", dir=os.path.dirname(path)
    )
    try:
        with open(descriptor, "w", encoding="utf-8") as file:
            mode = PRIVATE if old is None else stat.S_IMODE(old.st_mode) & PRIVATE
            os.fchmod(descriptor, mode)
            if old is not None and old.st_uid != os.geteuid():
                os.fchown(descriptor, old.st_uid, old.st_gid)
            file.write(text)
            file.flush()
            os.fsync(descriptor)
        os.replace(temporary, path)
    except BaseException:
        os.unlink(temporary)
        raise
