"""
C{eventd pub SUBJECT [MESSAGE]}: publish one message, or one per line of
standard input.
"""

import json
import os
from argparse import Namespace
from collections import deque
from typing import Any, Callable

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IHalfCloseableProtocol, IReactorCore
from twisted.internet.protocol import Protocol
from twisted.internet.stdio import StandardIO
from twisted.python.failure import Failure
from zope.interface import implementer

from eventd.cli.connected import Subparsers, add_server_option, run_connected
from eventd.client import EventClient

WINDOW = 32
"""
Publishes from standard input awaiting their answers at once: enough to
keep the connection busy, few enough that a refusal stops the rest soon.
"""


def add_pub(subcommands: Subparsers) -> None:
    """
    Add C{pub}'s parser.
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
    add_server_option(parser)
    parser.set_defaults(run=lambda args: run_connected(_pub, args))




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
