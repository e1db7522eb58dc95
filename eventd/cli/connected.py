"""
What every networked subcommand shares: finding the server, connecting,
and turning the ways that can fail into one line on stderr.
"""

import sys
from argparse import ArgumentParser, Namespace
from typing import Any, Callable, Coroutine, NoReturn

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
from eventd.client.endpoints import client_endpoint
from eventd.errors import EventdError

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
        help="the server: a Twisted client endpoint string, or the URI= value of "
        f"its banner (default: $EVENTD_ENDPOINT, else {DEFAULT_ENDPOINT})",
    )
    parser.add_argument(
        "--ca",
        metavar="FILE",
        help="for a tls: server, a PEM file of the certificate authorities that may "
        "vouch for it (default: $EVENTD_CA, else the system's)",
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
    try:
        client = await connect(endpoint, reactor)
    except Exception as reason:
        # connect() fails only when its one attempt to connect fails.
        raise SystemExit(
            f"eventd: cannot reach the event server at {address}: {reason}"
        ) from None

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
    except EventdError as error:
        raise SystemExit(f"eventd: {error}") from None
