"""
The command-line tools: C{eventd pub}, C{eventd sub} and C{eventd stats}.

They are for shells and scripts: C{eventd pub} publishes a message given
on the command line, or every line of its standard input; C{eventd sub}
prints events as they arrive, one line each, for a person to read or a pipe
to consume; C{eventd stats} shows the server's figures, as a table for
people or as JSON for scripts.  All use the Twisted client, so they reach
the server exactly as a Twisted application would.

Each subcommand is one function, listed in L{SUBCOMMANDS}, that adds its
parser and names what runs it; L{main} knows none of them, so a new
subcommand is one more function.
"""

import json
import os
import sys
from argparse import ArgumentParser, ArgumentTypeError, Namespace
from collections import deque
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable, Coroutine, Iterator, NoReturn, Optional, Sequence

from twisted.internet.defer import Deferred, fail
from twisted.internet.endpoints import clientFromString
from twisted.internet.error import ConnectionClosed
from twisted.internet.interfaces import IHalfCloseableProtocol, IReactorCore
from twisted.internet.protocol import Protocol
from twisted.internet.stdio import StandardIO
from twisted.internet.task import react
from twisted.logger import (
    FileLogObserver,
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    eventAsText,
    globalLogBeginner,
)
from twisted.python.failure import Failure
from zope.interface import implementer

from eventd.client import DEFAULT_ENDPOINT, EventClient, connect, server_address
from eventd.errors import EventdError
from eventd.event import Event
from eventd import unitfiles

INTERRUPTED = 130
"""
Exit status when a signal stopped a command before its work was done (a
shell's status for Ctrl-C).  A C{sub} waiting for events is never in that
state: stopping it is how it ends, with status 0.
"""

WINDOW = 32
"""
Publishes from standard input awaiting their answers at once: enough to
keep the connection busy, few enough that a refusal stops the rest soon.
"""

Work = Callable[[IReactorCore, EventClient, Namespace], Coroutine[Any, Any, None]]
"""What a networked subcommand does once connected."""

Subparsers = Any
"""argparse's private type of the object add_subparsers() returns."""


def main(argv: Optional[Sequence[str]] = None) -> None:
    """
    Run the C{eventd} command with C{argv} (default: the process's own
    arguments); networked subcommands exit the process when done.
    """
    args = build_parser().parse_args(argv)
    args.run(args)


def build_parser() -> ArgumentParser:
    """
    The C{eventd} command's parser, with every subcommand (the man page's
    test reads every option from it).
    """
    parser = ArgumentParser(
        prog="eventd", description="Publish and subscribe on an eventd event server."
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subcommands)
    return parser


# The subcommands.


def add_pub(subcommands: Subparsers) -> None:
    """
    C{eventd pub SUBJECT [MESSAGE]}: publish one message, or one per line of
    standard input.
    """
    parser = subcommands.add_parser(
        "pub",
        help="publish a message, or one per line of standard input",
        description="Publish MESSAGE on SUBJECT. MESSAGE is parsed as JSON, or taken "
        "as a plain string when it is not JSON (so '\"-\"' publishes a dash). "
        "Without MESSAGE, or with -, publish each line of standard input in order, "
        "skipping blank lines.",
    )
    parser.add_argument("subject", metavar="SUBJECT")
    parser.add_argument("message", metavar="MESSAGE", nargs="?", default="-")
    _add_server_option(parser)
    parser.set_defaults(run=lambda args: _run_connected(_pub, args))


def add_sub(subcommands: Subparsers) -> None:
    """
    C{eventd sub SUBJECT... [--match PATTERN]...}: print events as they
    arrive.
    """
    parser = subcommands.add_parser(
        "sub",
        help="print events on subjects or patterns as they arrive",
        description="Print every event on the SUBJECTs (any case) and on subjects a "
        "--match PATTERN matches, one line each, until interrupted or --count events "
        "were printed.",
    )
    parser.add_argument("subjects", metavar="SUBJECT", nargs="*")
    parser.add_argument(
        "--match",
        metavar="PATTERN",
        action="append",
        default=[],
        help="a regular expression (RE2, anchored at the start, any case); repeatable",
    )
    parser.add_argument(
        "--count", metavar="N", type=_positive_int, help="exit after printing N events"
    )
    parser.add_argument(
        "--format",
        choices=sorted(FORMATS),
        default="text",
        help="text: time, subject and message as JSON; json: one object per line "
        'with the keys "subject", "time" (seconds since the epoch) and "msg"',
    )
    _add_server_option(parser)

    def run(args: Namespace) -> None:
        if not (args.subjects or args.match):
            parser.error("give at least one SUBJECT or --match PATTERN")
        _run_connected(_sub, args)

    parser.set_defaults(run=run)


def add_stats(subcommands: Subparsers) -> None:
    """
    C{eventd stats [--json]}: the server's figures.
    """
    parser = subcommands.add_parser(
        "stats",
        help="show the server's figures: totals, then one row per subscriber",
        description="Show the server's figures: its uptime, connections (this one "
        "included), subscriptions, and events published, delivered and dropped since "
        "it started; then one row per subscribing connection with its subscriptions, "
        "events queued now, the most ever queued, and events delivered and dropped.",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object instead, for scripts: the keys "uptime", '
        '"connections", "subscriptions", "patterns", "published", "delivered", '
        '"dropped" and "subscribers" (a list of objects with the keys "peer", '
        '"subscriptions", "queue_depth", "high_water", "delivered", "dropped")',
    )
    _add_server_option(parser)
    parser.set_defaults(run=lambda args: _run_connected(_stats, args))


def add_systemd_units(subcommands: Subparsers) -> None:
    """
    C{eventd systemd-units [--output DIR]}: the systemd units, to read, or
    for a packager to take.
    """
    parser = subcommands.add_parser(
        "systemd-units",
        help="print the systemd unit files, or write them into a directory",
        description="Print eventd's systemd units: eventd.socket (127.0.0.1:7766), "
        "eventd.service (socket-activated, Type=notify, hardened, options from "
        "EVENTD_OPTIONS in /etc/default/eventd) and the templates eventd@.socket and "
        "eventd@.service (one server per port: eventd@7767 reads "
        "/etc/default/eventd-7767). Their ExecStart runs twistd by absolute path.",
    )
    parser.add_argument(
        "--output", metavar="DIR", type=Path, help="write the unit files into DIR instead"
    )
    _add_twistd_option(parser)
    parser.set_defaults(run=_systemd_units)


def add_service(subcommands: Subparsers) -> None:
    """
    C{eventd service ACTION}: eventd as a systemd service, as Pyro's
    event server was a Windows service.
    """
    parser = subcommands.add_parser(
        "service",
        help="install eventd as a systemd service, and control it",
        description="Install, update or remove eventd's systemd units and its options "
        "file, or start, stop, restart or show the status of the server through "
        "systemctl.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, summary in (
        ("install", "write the units and the options file, then enable eventd.socket"),
        ("update", "rewrite the units (and the options file, if OPTIONs are given), "
                   "then restart the server if it runs"),
    ):
        action = actions.add_parser(
            name,
            help=summary,
            description=f"{summary[0].upper()}{summary[1:]}. The units go into "
            f"/{unitfiles.UNIT_DIR}, the server OPTIONs (those of `twistd eventd`, "
            f"after --) into EVENTD_OPTIONS in /{unitfiles.ENVIRONMENT_FILE}.",
        )
        _add_root_option(action)
        _add_twistd_option(action)
        action.add_argument(
            "options", metavar="OPTION", nargs="*", help="a server option, after --"
        )
    _add_root_option(
        actions.add_parser(
            "remove",
            help="stop and disable the server, remove the units and the options file",
        )
    )
    for name, arguments in unitfiles.CONTROLS.items():
        actions.add_parser(name, help=f"systemctl {' '.join(arguments)}")
    parser.set_defaults(run=_service)


SUBCOMMANDS: tuple[Callable[[Subparsers], None], ...] = (
    add_pub, add_sub, add_stats, add_systemd_units, add_service
)
"""Each adds one subcommand's parser, and sets C{run} to what runs it."""


def _add_server_option(parser: ArgumentParser) -> None:
    """Every networked subcommand finds its server the same way."""
    parser.add_argument(
        "--server",
        metavar="ENDPOINT",
        help="the server: a Twisted client endpoint string, or the URI= value of "
        f"its banner (default: $EVENTD_ENDPOINT, else {DEFAULT_ENDPOINT})",
    )


def _positive_int(text: str) -> int:
    """
    The type of --count: C{--count 0} would subscribe only to exit at once,
    surely not what was meant.
    """
    try:
        number = int(text)
    except ValueError:
        raise ArgumentTypeError(f"not a whole number: {text!r}") from None
    if number < 1:
        raise ArgumentTypeError(f"must be at least 1, not {number}")
    return number


# Running a networked subcommand.


def _run_connected(work: Work, args: Namespace) -> NoReturn:
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
        endpoint = clientFromString(reactor, address)
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


# pub


async def _pub(reactor: IReactorCore, client: EventClient, args: Namespace) -> None:
    """
    Publish MESSAGE, or each line of standard input; done once the server
    has answered every publish, so nothing is left unsent at exit.
    """
    if args.message != "-":
        await _publish(client, args.subject, _message(os.fsencode(args.message), "MESSAGE"))
        return
    lines = _LinePublisher(lambda message: _publish(client, args.subject, message))
    StandardIO(lines, reactor=reactor)
    await lines.done


def _publish(client: EventClient, subject: str, message: Any) -> Deferred:
    """
    C{client.publish}, its codec's refusal failing the Deferred like the
    server's refusals: valid JSON can still be unencodable (C{"\\ud800"},
    a lone surrogate, is not UTF-8).
    """
    try:
        return client.publish(subject, message)
    except TypeError as error:
        return fail(SystemExit(f"eventd: cannot encode the message: {error.__cause__ or error}"))


def _message(raw: bytes, where: str) -> Any:
    """
    The message C{raw} stands for: its JSON value, or the text itself when it
    is not JSON.  Text must be UTF-8, as JSON is.

    @param where: names C{raw} in the error.
    @raise SystemExit: if C{raw} is not UTF-8.
    """
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise SystemExit(f"eventd: {where} is not UTF-8") from None
    try:
        return json.loads(text)
    except ValueError:
        return text


@implementer(IHalfCloseableProtocol)
class _LinePublisher(Protocol):
    """
    Publishes each line of standard input, in order, as one message.

    At most L{WINDOW} publishes await their answers at once; while lines
    wait for room, standard input is not read, so a fast writer is held back
    by the server rather than filling this process's memory.

    @ivar done: fires once every line is published, or fails with the first
        error.
    """

    def __init__(self, publish: Callable[[Any], Deferred]) -> None:
        self.done: Deferred = Deferred()
        self._publish = publish
        self._partial = b""
        self._lines: deque[bytes] = deque()
        self._line_number = 0
        self._unanswered = 0
        self._at_end = False

    def dataReceived(self, data: bytes) -> None:
        *complete, self._partial = (self._partial + data).split(b"\n")
        self._lines.extend(complete)
        self._pump()

    def readConnectionLost(self) -> None:
        # A last line without a newline is still a line.
        self._lines.append(self._partial)
        self._at_end = True
        self._pump()

    def writeConnectionLost(self) -> None:
        """
        Nothing is written to standard output, so its closing changes
        nothing.
        """

    def _pump(self) -> None:
        while self._lines and self._unanswered < WINDOW and not self.done.called:
            self._publish_line(self._lines.popleft())
        if self._lines or self.done.called:
            self.transport.pauseProducing()
            return
        self.transport.resumeProducing()
        if self._at_end and not self._unanswered:
            self.done.callback(None)

    def _publish_line(self, line: bytes) -> None:
        self._line_number += 1
        line = line.removesuffix(b"\r")
        if not line.strip():
            return
        try:
            message = _message(line, f"line {self._line_number} of standard input")
        except SystemExit as error:
            self.done.errback(error)
            return
        self._unanswered += 1
        self._publish(message).addCallbacks(self._answered, self._failed)

    def _answered(self, _time: float) -> None:
        self._unanswered -= 1
        self._pump()

    def _failed(self, failure: Failure) -> None:
        self._unanswered -= 1
        if not self.done.called:
            self.done.errback(failure)


# sub


async def _sub(reactor: IReactorCore, client: EventClient, args: Namespace) -> None:
    """
    Print events on the subjects and patterns until --count of them, or
    until a signal stops the reactor.
    """
    printer = _EventPrinter(FORMATS[args.format], args.count)
    if args.subjects:
        await client.subscribe(args.subjects, printer)
    if args.match:
        await client.subscribe_match(args.match, printer)
    await printer.done


def _as_text(event: Event) -> str:
    """
    A line for a person: the time (UTC, ISO 8601, to the millisecond), the
    subject, and the message as JSON.
    """
    when = datetime.fromtimestamp(event.time, timezone.utc).isoformat(timespec="milliseconds")
    msg = json.dumps(event.msg, ensure_ascii=False, default=_bytes_as_text)
    return f"{when.replace('+00:00', 'Z')} {event.subject} {msg}"


def _as_json(event: Event) -> str:
    """
    A line for a program: one JSON object, in ASCII so that any reader
    decodes it.
    """
    record = {"subject": event.subject, "time": event.time, "msg": event.msg}
    return json.dumps(record, default=_bytes_as_text)


def _bytes_as_text(value: object) -> str:
    """
    JSON has no bytes, and a publisher using the raw codec sends them: show
    them as text, with undecodable bytes escaped.
    """
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


FORMATS: dict[str, Callable[[Event], str]] = {"text": _as_text, "json": _as_json}


class _EventPrinter:
    """
    A handler printing each event as one line, flushed at once so a pipe
    gets it now, not when a buffer fills.

    @ivar done: fires after C{count} events, or when standard output's
        reader has gone; never otherwise.
    """

    def __init__(self, format_event: Callable[[Event], str], count: Optional[int]) -> None:
        self.done: Deferred = Deferred()
        self._format = format_event
        self._left = count

    def __call__(self, event: Event) -> None:
        if self.done.called:
            return
        try:
            sys.stdout.write(self._format(event) + "\n")
            sys.stdout.flush()
        except BrokenPipeError:
            # The reader (say, `head`) has what it wanted: end quietly, and
            # let the exit's final flush go nowhere instead of failing.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            self.done.callback(None)
            return
        if self._left is not None:
            self._left -= 1
            if self._left == 0:
                self.done.callback(None)


# stats

TOTALS = (
    "connections",
    "subscribers",
    "subscriptions",
    "patterns",
    "published",
    "delivered",
    "dropped",
)
"""The totals the table shows after the uptime, in order."""

COLUMNS = ("peer", "subscriptions", "queue_depth", "high_water", "delivered", "dropped")
"""The table's columns, one row per subscriber: the keys of its JSON form."""


async def _stats(reactor: IReactorCore, client: EventClient, args: Namespace) -> None:
    """
    Print the server's figures, as JSON or as a table.
    """
    figures = await client.stats()
    text = json.dumps(figures, indent=2) if args.json else _stats_table(figures)
    sys.stdout.write(text + "\n")


def _stats_table(figures: dict[str, Any]) -> str:
    """
    The figures for a person: the totals, one per line, then the
    subscribers in aligned columns, numbers to the right.
    """
    subscribers = figures["subscribers"]
    counts = {**figures, "subscribers": len(subscribers)}
    totals = [("uptime", str(timedelta(seconds=int(figures["uptime"]))))]
    totals += [(name, str(counts[name])) for name in TOTALS]
    width = max(len(name) for name, _ in totals)
    lines = [f"{name:<{width}}  {value}" for name, value in totals]
    lines.append("")
    if not subscribers:
        lines.append("no subscribers")
        return "\n".join(lines)
    rows = [COLUMNS]
    rows += [tuple(str(row[column]) for column in COLUMNS) for row in subscribers]
    widths = [max(len(row[n]) for row in rows) for n in range(len(COLUMNS))]
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(fits) for cell, fits in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
    return "\n".join(lines)


# systemd-units and service


def _add_twistd_option(parser: ArgumentParser) -> None:
    """The units name twistd by its path on the machine they are for."""
    parser.add_argument(
        "--twistd",
        metavar="PATH",
        help="the twistd the units run: its absolute path on the machine they are "
        "for (default: the twistd beside this Python)",
    )


def _add_root_option(parser: ArgumentParser) -> None:
    """Installing into a tree is for tests and packages: no systemctl then."""
    parser.add_argument(
        "--root",
        metavar="DIR",
        type=Path,
        help="act on the system tree under DIR, e.g. a package being built: "
        "files only, without calling systemctl",
    )


def _systemd_units(args: Namespace) -> None:
    """Print the units, or write them into --output and name the files."""
    with _one_line_errors():
        twistd = args.twistd or unitfiles.default_twistd()
        if args.output is None:
            for name, text in unitfiles.render_units(twistd).items():
                sys.stdout.write(f"### {name}\n{text}\n")
        else:
            for path in unitfiles.write_units(args.output, twistd):
                print(f"wrote {path}")


def _service(args: Namespace) -> None:
    """
    Do what C{eventd service ACTION} asks; the control actions exit with
    systemctl's status (so C{status} says 3 when the server is not running).
    """
    with _one_line_errors():
        if args.action in unitfiles.CONTROLS:
            raise SystemExit(unitfiles.control(args.action, unitfiles.run_systemctl))
        live = args.root is None
        root = Path("/") if live else args.root
        systemctl = unitfiles.run_systemctl if live else None
        if args.action == "remove":
            for path in unitfiles.remove(root, systemctl):
                print(f"removed {path}")
        else:
            change = unitfiles.install if args.action == "install" else unitfiles.update
            twistd = args.twistd or unitfiles.default_twistd()
            for path in change(root, twistd, args.options, systemctl):
                print(f"wrote {path}")


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """What the user must fix is one line on stderr, with status 1."""
    try:
        yield
    except unitfiles.UnitFileError as error:
        raise SystemExit(f"eventd: {error}") from None
