"""
What every networked subcommand shares: finding the server, connecting,
and turning the ways that can fail into one line on stderr.
"""

import os
import sys
from argparse import ArgumentParser, Namespace
from typing import Any, Callable, Coroutine, NoReturn, Optional

from OpenSSL import SSL
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionClosed
from twisted.internet.interfaces import IReactorCore
from twisted.internet.task import react
from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    eventAsText,
    globalLogBeginner,
)

from eventd.client import DEFAULT_ENDPOINT, EventClient, connect, server_address
from eventd.client.endpoints import client_endpoint, tls_reason
from eventd.errors import AuthRequired, EventdError, LoginFailed
from eventd.wire.secrets import first_line

INTERRUPTED = 130
"""
Exit status when a signal stopped a command before its work was done (a
shell's status for Ctrl-C).  A C{sub} waiting for events is never in that
state: stopping it is how it ends, with status 0.
"""

Work = Callable[[IReactorCore, EventClient, Namespace], Coroutine[Any, Any, None]]
"""What a networked subcommand does once connected."""

Subparsers = Any
"""argparse's private type of the object add_subparsers() returns."""


def add_server_option(parser: ArgumentParser) -> None:
    """Every networked subcommand finds its server the same way."""
    parser.add_argument(
        "--server",
        metavar="ENDPOINT",
        action="append",
        help="the server: a Twisted client endpoint string, or the URI= value of "
        "its banner; repeat it for several, to fail over from one to the next "
        f"(default: $EVENTD_ENDPOINT, else {DEFAULT_ENDPOINT})",
    )
    parser.add_argument(
        "--ca",
        metavar="FILE",
        help="for a tls: server, a PEM file of the certificate authorities that may "
        "vouch for it (default: $EVENTD_CA, else the system's)",
    )
    parser.add_argument(
        "--ident-file",
        metavar="FILE",
        help="log in with the server's shared passphrase, the first line of FILE "
        "(default: $EVENTD_IDENT, the passphrase itself)",
    )
    parser.add_argument(
        "--user",
        metavar="NAME",
        help="log in as this user of the server's --users file (default: $EVENTD_USER)",
    )
    parser.add_argument(
        "--password-file",
        metavar="FILE",
        help="the user's password: the first line of FILE (default: $EVENTD_PASSWORD)",
    )


def run_connected(work: Work, args: Namespace) -> NoReturn:
    """
    Connect, do C{work}, and exit: 0 when it is done, 1 with one line on
    stderr when the server cannot be reached or refuses something.
    """
    _warnings_to_stderr()
    react(_session, (work, args))


def _warnings_to_stderr() -> None:
    """
    The client warns on stderr when it loses the server and reconnects (a
    C{sub} left running should say so); informational chatter stays out.
    """
    observer = FileLogObserver(sys.stderr, _warning_line)
    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(observer, [LogLevelFilterPredicate(LogLevel.warn)])],
        redirectStandardIO=False,
    )


def _warning_line(event: dict) -> str:
    text = eventAsText(event, includeTimestamp=False, includeSystem=False)
    return f"eventd: {text}\n"


async def _session(reactor: IReactorCore, work: Work, args: Namespace) -> None:
    """
    Do C{work} with a client connected to the chosen server, turning the
    ways it can fail into a one-line message.  The client is closed when
    the reactor shuts down, whether the work is done or a signal stopped it.
    """
    address = server_address(args.server)
    try:
        endpoint = client_endpoint(reactor, address, args.ca)
    except (ValueError, TypeError) as error:
        raise SystemExit(f"eventd: bad server endpoint {address!r}: {error}") from None
    credentials = _credentials(args)
    try:
        client = await connect(endpoint, reactor, **credentials)
    except LoginFailed as reason:
        raise SystemExit(f"eventd: the event server at {address} refused the login: {reason}")
    except Exception as reason:
        # connect() fails only when its one attempt to connect fails.
        said = tls_reason(reason) if isinstance(reason, SSL.Error) else reason
        raise SystemExit(f"eventd: cannot reach the event server at {address}: {said}") from None

    stopping = False

    def close() -> Deferred:
        nonlocal stopping
        stopping = True
        return client.close()

    reactor.addSystemEventTrigger("before", "shutdown", close)
    try:
        await work(reactor, client, args)
    except ConnectionClosed as reason:
        if stopping:
            raise SystemExit(INTERRUPTED) from None
        raise SystemExit(f"eventd: lost the event server at {address}: {reason}") from None
    except SSL.Error as error:
        # TLS 1.3 finishes the client's handshake before the server has
        # judged the client's certificate: its refusal ends the first call.
        raise SystemExit(
            f"eventd: the TLS connection to the event server at {address} failed: "
            f"{tls_reason(error)}"
        ) from None
    except AuthRequired as error:
        raise SystemExit(
            f"eventd: {error}: give --ident-file (or $EVENTD_IDENT), or --user and "
            "--password-file (or $EVENTD_USER and $EVENTD_PASSWORD)"
        ) from None
    except EventdError as error:
        raise SystemExit(f"eventd: {error}") from None


def _credentials(args: Namespace) -> dict[str, Optional[str]]:
    """
    Who to log in as: from the options, else from the environment.  A
    secret is read from a file or the environment, never from the command
    line, where every user of the host could read it.
    """
    ident = _first_line("--ident-file", args.ident_file) if args.ident_file else None
    user = args.user or os.environ.get("EVENTD_USER") or None
    password = _first_line("--password-file", args.password_file) if args.password_file else None
    if user is not None and password is None:
        password = os.environ.get("EVENTD_PASSWORD")
        if password is None:
            raise SystemExit("eventd: --user needs --password-file or $EVENTD_PASSWORD")
    if ident is None and user is None:
        ident = os.environ.get("EVENTD_IDENT") or None
    if ident is not None and user is not None:
        raise SystemExit("eventd: give a passphrase (--ident-file) or a user, not both")
    return {"ident": ident, "user": user, "password": password}


def _first_line(option: str, path: str) -> str:
    try:
        return first_line(path)
    except ValueError as e:
        raise SystemExit(f"eventd: {option} {e}") from None
