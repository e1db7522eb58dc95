"""
The command-line tools as users run them: the installed C{eventd} console
script as a child process, against a real C{twistd -n eventd} server on a
loopback port.

No child gets PYTHONUNBUFFERED, so every test that reads C{eventd sub}'s
output line by line also shows that it flushes each line itself.
"""

import itertools
import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Callable, Optional

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import LoopingCall
from twisted.trial.unittest import TestCase

from tests.servers import STOP_SECONDS, Collector, connected, run_server, within

EVENTD = str(Path(sys.executable).parent / "eventd")
WAIT = 20
"""Seconds any one wait on a child or an event may take."""

SIGNAL_SECONDS = 5
"""Seconds C{eventd sub} may take to end after a signal (it needs well under one)."""

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (\S+) (.+)$")

CHILD_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}


class Command(ProcessProtocol):
    """
    An C{eventd} child process: what it wrote, and whether it has ended.
    """

    def __init__(self, stdin: Optional[bytes]) -> None:
        self.stdout = b""
        self.stderr = b""
        self.exit_code: Optional[int] = None
        self.ended = False
        self._stdin = stdin
        self._waiters: list[tuple[Callable[[], bool], Deferred]] = []

    def connectionMade(self) -> None:
        if self._stdin is not None:
            self.transport.write(self._stdin)
            self.transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        self.stdout += data
        self._check()

    def errReceived(self, data: bytes) -> None:
        self.stderr += data

    def processEnded(self, reason) -> None:
        self.exit_code = reason.value.exitCode
        self.ended = True
        self._check()

    @property
    def lines(self) -> list[str]:
        """The complete lines of standard output so far."""
        return [line.decode() for line in self.stdout.split(b"\n")[:-1]]

    @property
    def pid(self) -> int:
        return self.transport.pid

    def when_ended(self) -> Deferred:
        """Fires with this command once the process has ended."""
        return self.when(lambda: self.ended)

    def when_lines(self, count: int) -> Deferred:
        """
        Fires with this command once it has printed C{count} lines; fails
        if it ends first.
        """
        return self.when(lambda: len(self.lines) >= count)

    def when(self, ready: Callable[[], bool]) -> Deferred:
        """Fires with this command once C{ready()}; fails if it ends first."""
        waiter: Deferred = Deferred()
        self._waiters.append((ready, waiter))
        self._check()
        return waiter

    def _check(self) -> None:
        for ready, waiter in list(self._waiters):
            if ready():
                self._waiters.remove((ready, waiter))
                waiter.callback(self)
            elif self.ended:
                self._waiters.remove((ready, waiter))
                waiter.errback(AssertionError(f"eventd ended first: {self!r}"))

    async def stop(self) -> None:
        """Kill the process (ours, by its PID) if it still runs; wait for its end."""
        if not self.ended:
            os.kill(self.pid, signal.SIGKILL)
        await within(self.when_ended(), STOP_SECONDS)

    def __repr__(self) -> str:
        return f"<exit {self.exit_code}, stdout {self.stdout!r}, stderr {self.stderr!r}>"


def start(testcase: TestCase, *args: str, stdin: Optional[bytes] = None) -> Command:
    """
    Start C{eventd *args} in C{/} without PYTHONUNBUFFERED, killed when the
    test ends if still running.  Without C{stdin}, its standard input stays
    open and empty, so a command that wrongly reads it hangs (and times out).
    """
    command = Command(stdin)
    reactor.spawnProcess(command, EVENTD, [EVENTD, *args], env=CHILD_ENV, path="/")
    testcase.addCleanup(command.stop)
    return command


async def run(testcase: TestCase, *args: str, stdin: Optional[bytes] = None) -> Command:
    """Run C{eventd *args} to its end."""
    return await within(start(testcase, *args, stdin=stdin).when_ended(), WAIT)


class PubTests(TestCase):
    timeout = 90

    async def setUp(self):
        self.server = await run_server(self, "-p", "0")
        self.subscriber = await connected(self, self.server.uri)

    async def _published(self, subject: str, expected: int, *args: str, stdin=None) -> list:
        """
        Run C{eventd pub --server URI subject *args}, check that it
        succeeds, and return the first C{expected} messages a subscriber got.
        """
        got = Collector(expected)
        await self.subscriber.subscribe(subject, got)
        pub = await run(self, "pub", "--server", self.server.uri, subject, *args, stdin=stdin)
        self.assertEqual((pub.exit_code, pub.stderr), (0, b""), pub)
        return await within(got.done, WAIT)

    async def test_a_json_message_arrives_as_its_decoded_value(self):
        got = await self._published("greeting", 1, '{"to": ["you", 2], "ok": true}')
        self.assertEqual(got, [{"to": ["you", 2], "ok": True}])

    async def test_text_that_is_not_json_arrives_as_a_string(self):
        got = await self._published("greeting", 1, "hello, {world")
        self.assertEqual(got, ["hello, {world"])

    async def test_each_line_of_stdin_is_published_in_order(self):
        stdin = b'1\n"two"\n\nthree and more\n{"n": 4}\n[5]'
        got = await self._published("lines", 5, stdin=stdin)
        # A published blank line would show up in the middle of these.
        self.assertEqual(got, [1, "two", "three and more", {"n": 4}, [5]])


class SubTests(TestCase):
    timeout = 90

    async def setUp(self):
        self.server = await run_server(self, "-p", "0")
        self.publisher = await connected(self, self.server.uri)

    def sub(self, *args: str) -> Command:
        return start(self, "sub", "--server", self.server.uri, *args)

    async def publish_until(self, until: Deferred, subject: str) -> None:
        """
        Publish 0, 1, 2, ... on C{subject}, each once the last is answered,
        until C{until} fires.  The child subscribes at a moment we cannot
        see; this keeps events coming until it has shown us it has them.
        """
        numbers = itertools.count()
        repeat = LoopingCall(lambda: self.publisher.publish(subject, next(numbers)))
        repeat.start(0.05)
        try:
            await within(until, WAIT)
        finally:
            repeat.stop()

    def numbers(self, lines: list[str], subject: str) -> list[int]:
        """The messages of text-format lines, checking their form."""
        numbers = []
        for line in lines:
            match = TEXT_LINE.match(line)
            self.assertIsNotNone(match, line)
            self.assertEqual(match.group(1), subject)
            numbers.append(json.loads(match.group(2)))
        return numbers

    async def test_count_prints_that_many_lines_and_exits_0(self):
        sub = self.sub("counted", "--count", "3")
        await self.publish_until(sub.when_ended(), "counted")
        self.assertEqual((sub.exit_code, sub.stderr), (0, b""), sub)
        self.assertEqual(len(sub.lines), 3, sub)
        first = self.numbers(sub.lines, "counted")[0]
        self.assertEqual(self.numbers(sub.lines, "counted"), [first, first + 1, first + 2])

    async def test_json_format_prints_subject_time_and_msg(self):
        sub = self.sub("quotes.sun", "--format", "json", "--count", "2")
        await self.publish_until(sub.when_ended(), "Quotes.Sun")
        self.assertEqual(sub.exit_code, 0, sub)
        records = [json.loads(line) for line in sub.lines]
        self.assertEqual(len(records), 2, sub)
        for record in records:
            self.assertEqual(set(record), {"subject", "time", "msg"})
            self.assertEqual(record["subject"], "Quotes.Sun")
            self.assertIsInstance(record["time"], float)
            self.assertLess(abs(record["time"] - time.time()), 600)
        self.assertEqual(records[1]["msg"], records[0]["msg"] + 1)

    async def test_each_line_reaches_a_pipe_at_once(self):
        self.assertNotIn("PYTHONUNBUFFERED", CHILD_ENV)
        sub = self.sub("flushed")
        await self.publish_until(sub.when_lines(1), "flushed")
        # Subscribed now: one more event must show up as one more line at
        # once, not sit in a buffer until more events fill it.
        await self.publisher.publish("flushed", "last")
        await within(sub.when(lambda: sub.stdout.endswith(b' flushed "last"\n')), WAIT)
        self.assertFalse(sub.ended, sub)

    async def test_sigint_ends_sub_quietly(self):
        await self._ends_quietly_on(signal.SIGINT)

    async def test_sigterm_ends_sub_quietly(self):
        await self._ends_quietly_on(signal.SIGTERM)

    async def _ends_quietly_on(self, signum: int) -> None:
        sub = self.sub("signalled")
        # Its first line shows it is running, and handling signals.
        await self.publish_until(sub.when_lines(1), "signalled")
        os.kill(sub.pid, signum)
        await within(sub.when_ended(), SIGNAL_SECONDS)
        self.assertIn(sub.exit_code, (0, 130), sub)
        self.assertNotIn(b"Traceback", sub.stderr)
        self.assertEqual(sub.stderr, b"")

    async def test_an_invalid_pattern_is_named_in_a_one_line_error(self):
        sub = self.sub("--match", r"(a)\1")
        await within(sub.when_ended(), WAIT)
        self.assertEqual(sub.exit_code, 1, sub)
        errors = sub.stderr.decode().splitlines()
        self.assertEqual(len(errors), 1, sub)
        self.assertTrue(errors[0].startswith("eventd: "), errors)
        self.assertIn(r"(a)\1", errors[0])
        self.assertEqual(sub.stdout, b"")


class UsageTests(TestCase):
    timeout = 90

    async def test_an_unreachable_server_is_one_line_and_status_1(self):
        server = await run_server(self, "-p", "0")
        await server.stop()
        for args in (["pub", "--server", server.uri, "nobody", "1"],
                     ["sub", "--server", server.uri, "nobody"]):
            command = await run(self, *args)
            self.assertEqual(command.exit_code, 1, command)
            errors = command.stderr.decode().splitlines()
            self.assertEqual(len(errors), 1, command)
            self.assertTrue(
                errors[0].startswith(f"eventd: cannot reach the event server at {server.uri}: "),
                errors,
            )

    async def test_sub_needs_a_subject_or_a_pattern(self):
        command = await run(self, "sub", "--server", "tcp:127.0.0.1:1")
        self.assertEqual(command.exit_code, 2, command)
        self.assertIn(b"at least one SUBJECT or --match PATTERN", command.stderr)
