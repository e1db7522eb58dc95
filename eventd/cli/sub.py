"""
C{eventd sub SUBJECT... [--match PATTERN]...}: print events as they
arrive, one line each, for a person to read or a pipe to consume.
"""

import json
import os
import sys
from argparse import ArgumentTypeError, Namespace
from datetime import datetime, timezone
from typing import Callable, Optional

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorCore

from eventd.cli.connected import Subparsers, add_server_option, run_connected
from eventd.client import EventClient
from eventd.event import Event
from eventd.wire.commands import POLICIES


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
    parser.add_argument(
        "--policy",
        choices=POLICIES,
        help="what the server does when this subscriber falls behind: block its "
        "publishers, drop new events, drop the oldest, or disconnect it (default: "
        "the server's --when-full); events dropped are reported on stderr",
    )
    add_server_option(parser)

    def run(args: Namespace) -> None:
        if not (args.subjects or args.match):
            parser.error("give at least one SUBJECT or --match PATTERN")
        run_connected(_sub, args)

    parser.set_defaults(run=run)


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




async def _sub(reactor: IReactorCore, client: EventClient, args: Namespace) -> None:
    """
    Print events on the subjects and patterns until --count of them, or
    until a signal stops the reactor.
    """
    printer = _EventPrinter(FORMATS[args.format], args.count)
    if args.subjects:
        await client.subscribe(args.subjects, printer, args.policy)
    if args.match:
        await client.subscribe_match(args.match, printer, args.policy)
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
        if event.dropped_before:
            sys.stdout.flush()
            sys.stderr.write(
                f"eventd: {event.dropped_before} events dropped before the next "
                f"(this subscriber fell behind)\n"
            )
            sys.stderr.flush()
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
