"""
The programs under examples/, run as users run them: each is a child
process, against a real `twistd -n eventd` (the allinone examples start
their own server), bounded by the example's own --count/--seconds options
and by a timeout here; the tests read what it printed.
"""

import re
import sys
from collections import Counter
from typing import Optional

from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import TestCase

from tests.servers import PROJECT, ChildProcess, run_server, spawn, within

EXAMPLES = PROJECT / "examples"
RUN_SECONDS = 40
"""How long any one example may run before its test fails."""

UNREACHABLE = "tcp:127.0.0.1:1"
"""An address no event server listens on."""

SYMBOLS = ("SUN", "MICROSOFT", "IBM", "ORACLE", "SAP", "NOVELL")

PUBLISHED_QUOTE = re.compile(r"^([A-Z]+) = (\d+\.?\d*)$", re.M)
RECEIVED_QUOTE = re.compile(r"^STOCKQUOTE\.([A-Z]+) = (\d+\.?\d*)$", re.M)


class ExampleProcess(ChildProcess):
    """
    A running example, and a way to wait for what it prints.
    """

    def __init__(self) -> None:
        super().__init__()
        self._watches: list = []  # (text, times, Deferred)

    def when_printed(self, text: str, times: int = 1) -> Deferred:
        """
        A Deferred that fires once stdout holds C{text} C{times} times, or
        fails if the process ends first.
        """
        if self.stdout.count(text) >= times:
            return succeed(None)
        watch: Deferred = Deferred()
        self._watches.append((text, times, watch))
        return within(watch, RUN_SECONDS)

    def outReceived(self, data: bytes) -> None:
        super().outReceived(data)
        watches, self._watches = self._watches, []
        for text, times, watch in watches:
            if self.stdout.count(text) >= times:
                watch.callback(None)
            else:
                self._watches.append((text, times, watch))

    def processEnded(self, reason) -> None:
        super().processEnded(reason)
        watches, self._watches = self._watches, []
        for text, times, watch in watches:
            watch.errback(
                RuntimeError(f"ended without printing {text!r} {times}x:\n{self.output}")
            )


class ExampleTestCase(TestCase):
    timeout = 90

    def start(self, example: str, *args: str, endpoint: Optional[str] = None) -> ExampleProcess:
        """
        Run examples/C{example} with C{args}; it finds the server at
        C{endpoint} through EVENTD_ENDPOINT (by default an address where
        none listens).
        """
        return spawn(
            self,
            [sys.executable, str(EXAMPLES / example), *args],
            env={"EVENTD_ENDPOINT": endpoint or UNREACHABLE},
            process=ExampleProcess(),
        )

    async def finish(self, process: ExampleProcess, exit_code: int = 0) -> list[str]:
        """
        Wait until the example ends by itself; check its exit code and
        return its stdout lines.
        """
        await within(process.when_ended(), RUN_SECONDS)
        self.assertEqual(process.exit_code, exit_code, process.output)
        return process.stdout.splitlines()


class WithServer(ExampleTestCase):
    async def setUp(self):
        self.server = await run_server(self, "-p", "0")
        self.uri = self.server.uri


def quotes(pattern: re.Pattern, text: str) -> list[tuple[str, str]]:
    return pattern.findall(text)


class StockQuotesTests(WithServer):
    async def test_subscriber_prints_the_quotes_of_the_symbols_typed_in(self):
        subscriber = self.start("stockquotes/subscriber.py", "--count", "5", "--seconds", "30",
                                endpoint=self.uri)
        await subscriber.when_printed("comma separated")
        subscriber.transport.write(b"sun, ibm\n")
        await subscriber.when_printed("Listening!")
        publisher = self.start("stockquotes/publisher.py", "--count", "150", "--pause", "0.02",
                               endpoint=self.uri)
        await self.finish(subscriber)
        published_lines = await self.finish(publisher)

        self.assertEqual(published_lines[0], "Publishing quotes.")
        published = quotes(PUBLISHED_QUOTE, publisher.stdout)
        self.assertEqual(len(published), 150)
        received = quotes(RECEIVED_QUOTE, subscriber.stdout)
        self.assertEqual(len(received), 5, subscriber.output)
        wanted = Counter(q for q in published if q[0] in ("SUN", "IBM"))
        self.assertLessEqual(Counter(received), wanted)
        for symbol in SYMBOLS:  # the symbols to choose from
            self.assertIn(symbol, subscriber.stdout.split("Listening!")[0])

    async def test_pattern_subscriber_gets_only_symbols_starting_with_s(self):
        subscriber = self.start("stockquotes/pattern_subscriber.py",
                                "--count", "5", "--seconds", "30", endpoint=self.uri)
        await subscriber.when_printed(r"Listening to the pattern ^STOCKQUOTE\.S.*$")
        publisher = self.start("stockquotes/publisher.py", "--count", "150", "--pause", "0.02",
                               endpoint=self.uri)
        await self.finish(subscriber)
        await self.finish(publisher)

        published = quotes(PUBLISHED_QUOTE, publisher.stdout)
        received = quotes(RECEIVED_QUOTE, subscriber.stdout)
        self.assertEqual(len(received), 5, subscriber.output)
        wanted = Counter(q for q in published if q[0] in ("SUN", "SAP"))
        self.assertLessEqual(Counter(received), wanted)

    async def test_address_variants_use_the_address_given_and_see_every_quote(self):
        """
        EVENTD_ENDPOINT names no server: they can only have used the
        argument.
        """
        subscriber = self.start("stockquotes/subscriber_address.py", self.uri,
                                ",".join(SYMBOLS), "--count", "8", "--seconds", "30")
        await subscriber.when_printed("Listening!")
        publisher = self.start("stockquotes/publisher_address.py", self.uri,
                               "--count", "8", "--pause", "0.02")
        await self.finish(subscriber)
        await self.finish(publisher)

        published = quotes(PUBLISHED_QUOTE, publisher.stdout)
        self.assertEqual(len(published), 8)
        self.assertEqual(Counter(quotes(RECEIVED_QUOTE, subscriber.stdout)), Counter(published))

    async def test_a_subscriber_given_seconds_stops_by_itself(self):
        subscriber = self.start("stockquotes/subscriber.py", "SUN", "--seconds", "1",
                                endpoint=self.uri)
        lines = await self.finish(subscriber)
        self.assertEqual(lines[-1], "Listening!")


class NoServerTests(ExampleTestCase):
    async def test_publisher_and_subscriber_say_when_there_is_no_server(self):
        for example, args in [("stockquotes/publisher.py", ["--count", "1"]),
                              ("stockquotes/subscriber.py", ["SUN", "--count", "1"])]:
            process = self.start(example, *args)
            lines = await self.finish(process, exit_code=1)
            self.assertIn("No event server found", lines[-1])
            self.assertIn(UNREACHABLE, lines[-1])


CAR = re.compile(r"^A (\w+) (\w+) went (\w+)$")
PUBLISHED_CAR = re.compile(r"^(\w+) (\w+) heading (\w+)$", re.M)


class CountingCarsTests(WithServer):
    async def test_the_counter_moves_on_after_four_cars_and_aborts_after_all_four(self):
        subscriber = self.start("countingcars/subscriber.py", "--seconds", "30",
                                endpoint=self.uri)
        await subscriber.when_printed("Counting cars.")
        publisher = self.start("countingcars/publisher.py", "--count", "1500", "--pause", "0.01",
                               endpoint=self.uri)
        lines = await self.finish(subscriber)
        await publisher.stop()  # it would go on for a while; enough traffic

        watched = []
        counted: dict = {}
        for line in lines:
            if line.startswith("Now watching for cars heading "):
                watched.append(line.rsplit(" ", 1)[1])
            elif car := CAR.match(line):
                self.assertEqual(car.group(3), watched[-1], line)
                counted[watched[-1]] = counted.get(watched[-1], 0) + 1
        self.assertEqual(watched, ["west", "east", "south", "north"])
        self.assertEqual(counted, {"west": 4, "east": 4, "south": 4, "north": 4})
        self.assertEqual(lines.count("Enough cars that way; on to another direction."), 4)
        self.assertEqual(lines[-2:], ["Watched every direction.", "Stopped counting cars."])
        cars = Counter(CAR.match(line).groups() for line in lines if CAR.match(line))
        self.assertLessEqual(cars, Counter(PUBLISHED_CAR.findall(publisher.stdout)))


STRESS_CAR = re.compile(r"^(\d+) A (\w+) (\w+) went (\w+)$")
STRESS_PUBLISHED = re.compile(r"^(\d+) published (\w+) (\w+) heading (\w+)$", re.M)


class StressTestTests(WithServer):
    async def test_twenty_consumers_each_count_cars_the_ten_producers_sent(self):
        consumer = self.start("stresstest/consumer.py", "--count", "20", "--seconds", "35",
                              endpoint=self.uri)
        await consumer.when_printed("Counting cars.", times=20)
        producer = self.start("stresstest/producer.py", "--count", "60", endpoint=self.uri)
        consumer_lines = await self.finish(consumer)
        producer_lines = await self.finish(producer)

        sent = STRESS_PUBLISHED.findall(producer.stdout)
        self.assertEqual(Counter(id for id, *_ in sent), {str(id): 60 for id in range(10)})
        for state in ("running", "stopped"):
            self.assertEqual(
                sorted(line.split()[0] for line in producer_lines
                       if line.endswith(f"Producer {state}.")),
                sorted(str(id) for id in range(10)),
            )
        sent_cars = Counter(tuple(car) for _, *car in sent)

        for id in map(str, range(20)):
            mine = [line.split(" ", 1)[1] for line in consumer_lines
                    if line.split(" ", 1)[0] == id]
            self.assertEqual(mine[-1], "Stopped counting cars.", mine)
            watched, cars = [], []
            for line in mine:
                if line.startswith("Now watching for cars heading "):
                    watched.append(line.rsplit(" ", 1)[1])
                elif car := STRESS_CAR.match(f"{id} {line}"):
                    self.assertEqual(car.group(4), watched[-1], line)
                    cars.append(car.groups()[1:])
            self.assertEqual(len(cars), 20, mine)
            # Four directions, four cars each, then round again.
            self.assertEqual(watched[:6], ["west", "south", "east", "north", "west", "south"])
            self.assertIn("Watched every direction; starting over.", mine)
            self.assertLessEqual(Counter(cars), sent_cars)


SETS = re.compile(r"^(publisher\d) sets ([A-Z]) to (\d+)$", re.M)
GOT = re.compile(r"^Listener got event: (publisher\d)\.([A-Z])=(\d+)$", re.M)


class AllInOneTests(ExampleTestCase):
    async def check(self, example: str):
        process = self.start(f"allinone/{example}", "--count", "3", "--pause", "0.05")
        lines = await self.finish(process)
        self.assertIn("EVENT LISTENER ACTIVATED", lines)
        self.assertEqual(lines.count("MAIN LOOP CHANGES PROPERTIES..."), 3)
        changes = SETS.findall(process.stdout)
        self.assertEqual(len(changes), 9)
        self.assertEqual({name for name, *_ in changes}, {"publisher1", "publisher2", "publisher3"})
        self.assertEqual(Counter(GOT.findall(process.stdout)), Counter(changes))
        self.assertEqual(lines[-1], "Stopped after 3 rounds; 9 changes published, 9 received.")

    async def test_threads(self):
        await self.check("allinone_threads.py")

    async def test_own_loop(self):
        await self.check("allinone_ownloop.py")

    async def test_own_loop_given_seconds_stops_by_itself(self):
        process = self.start("allinone/allinone_ownloop.py", "--seconds", "0.5", "--pause", "0.2")
        lines = await self.finish(process)
        summary = re.match(r"Stopped after (\d+) rounds; (\d+) changes published, (\d+) received",
                           lines[-1])
        self.assertIsNotNone(summary, lines)
        rounds, published, received = map(int, summary.groups())
        self.assertGreaterEqual(rounds, 1)
        self.assertEqual((published, received), (3 * rounds, 3 * rounds))


WORKED = re.compile(r"^worker: #(\d+) STOCKQUOTE\.([A-Z]+) = (\S+) \(\d+ waiting\)$", re.M)


class QueueWorkerTests(WithServer):
    async def test_one_worker_handles_every_quote_one_by_one(self):
        worker = self.start("queue_worker.py", "--count", "12", "--work", "0.01",
                            "--seconds", "30", endpoint=self.uri)
        await worker.when_printed("Listening")
        publisher = self.start("stockquotes/publisher.py", "--count", "12", "--pause", "0.02",
                               endpoint=self.uri)
        lines = await self.finish(worker)
        await self.finish(publisher)

        handled = WORKED.findall(worker.stdout)
        self.assertEqual([int(n) for n, *_ in handled], list(range(1, 13)))
        published = quotes(PUBLISHED_QUOTE, publisher.stdout)
        self.assertEqual(Counter(tuple(quote) for _, *quote in handled), Counter(published))
        self.assertEqual(lines[-1], "The worker handled 12 events.")
