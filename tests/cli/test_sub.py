"""
C{eventd sub} as users run it, against a real C{twistd -n eventd} server on
a loopback port.
"""

import json
import os
import re
import signal
import time

from twisted.internet.defer import Deferred
from twisted.trial.unittest import TestCase

from tests.cli.commands import CHILD_ENV, Command, publish_until, start, suspend
from tests.servers import WAIT, connected, run_server, within

SIGNAL_SECONDS = 5
"""Seconds C{eventd sub} may take to end after a signal (it needs well under one)."""

TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (\S+) (.+)$")


class SubTests(TestCase):
    timeout = 90

    async def setUp(self):
        self.server = await run_server(self, "-p", "0")
        self.publisher = await connected(self, self.server.uri)

    def sub(self, *args: str) -> Command:
        return start(self, "sub", "--server", self.server.uri, *args)

    async def publish_until(self, until: Deferred, subject: str) -> None:
        await publish_until(self.publisher, until, subject)

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


class DroppedEventsTests(TestCase):
    timeout = 90

    async def test_sub_says_how_many_events_it_missed(self):
        """
        A stopped C{eventd sub --policy drop-oldest} misses most of 2,000
        events of 2 kB (far more than its socket buffers hold); once it
        runs again, it says on stderr how many it missed, and prints the
        latest events.
        """
        server = await run_server(self, "-p", "0", "--queue-size", "5", "--send-buffer-bytes", "4096")
        publisher = await connected(self, server.uri)
        sub = start(self, "sub", "quotes", "--policy", "drop-oldest", "--server", server.uri)
        await publish_until(publisher, sub.when_lines(1), "quotes")
        suspend(self, sub)
        for n in range(2000):
            await publisher.publish("quotes", ["load", n, "x" * 2000])
        os.kill(sub.pid, signal.SIGCONT)
        await within(sub.when(lambda: b'"load", 1999' in sub.stdout), WAIT)
        notices = [line for line in sub.stderr.decode().splitlines() if "dropped" in line]
        self.assertGreaterEqual(len(notices), 1, sub)
        self.assertRegex(notices[0], r"^eventd: \d+ events dropped before the next")
        missed = sum(int(line.split()[1]) for line in notices)
        printed = sub.stdout.count(b'"load"')
        self.assertEqual(printed + missed, 2000)
