"""
One client cannot hurt the others: a real C{twistd -n eventd} on loopback,
an innocent publisher and subscriber on a subject of their own, and a client
that misbehaves (stops, falls silent, asks too much, hoards memory).  The
innocent pair must get every event, in order, whatever the other does; the
server must deal with the misbehaving one as its options say.
"""


from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall
from twisted.protocols import amp
from twisted.trial.unittest import TestCase

from eventd.errors import BadPattern, LimitExceeded
from eventd.wire.commands import Emit
from tests.cli.commands import publish_until, start, suspend
from tests.servers import WAIT, Collector, connected, raw_peer, run_server, within


class InnocentPair:
    """
    A publisher publishing 0, 1, 2, ... on its own subject every 20 ms, and
    a subscriber of that subject, until L{stop}, and at least L{LEAST}.
    """

    LEAST = 25

    def __init__(self, publisher, subscriber) -> None:
        self.publisher = publisher
        self.subscriber = subscriber
        self.received: list[int] = []
        self.sent = 0
        self._all_in: Deferred = Deferred()
        self._enough: Deferred = Deferred()
        self._repeat = LoopingCall(self._publish)

    async def start(self) -> None:
        await self.subscriber.subscribe("innocent.pair", self._got)
        self._repeat.start(0.02)

    def _publish(self) -> None:
        self.publisher.emit("innocent.pair", self.sent)
        self.sent += 1
        if self.sent == self.LEAST:
            self._enough.callback(None)

    def _got(self, event) -> None:
        self.received.append(event.msg)
        if len(self.received) == self.sent and not self._repeat.running:
            self._all_in.callback(None)

    async def stop(self) -> list[int]:
        """
        Stop publishing (once at least L{LEAST} were sent); once all sent
        arrived, what was received.
        """
        await within(self._enough, WAIT)
        self._repeat.stop()
        if len(self.received) < self.sent:
            await within(self._all_in, WAIT)
        return self.received


class MisbehavingTestCase(TestCase):
    timeout = 120
    options: tuple[str, ...] = ()

    async def setUp(self):
        self.server = await run_server(self, "-p", "0", *self.options)
        self.pair = InnocentPair(
            await connected(self, self.server.uri), await connected(self, self.server.uri)
        )
        await self.pair.start()

    async def assertPairUnharmed(self) -> None:
        received = await self.pair.stop()
        self.assertEqual(received, list(range(max(len(received), InnocentPair.LEAST))))


class StoppedSubscriberTests(MisbehavingTestCase):
    options = (
        "--queue-size", "20", "--send-buffer-bytes", "4096",
        "--slow-consumer-timeout", "2", "--heartbeat", "0",
    )

    async def test_a_stopped_subscriber_holds_a_publisher_no_longer_than_the_timeout(self):
        """
        C{eventd sub --match '.*'}, a real process, is stopped with SIGSTOP
        once it runs; a block-mode publisher then publishes 1,000 events of
        1 KiB.  It is held until the stopped subscriber is disconnected as a
        slow consumer, then goes on; every publish is answered.
        """
        sub = start(self, "sub", "--match", ".*", "--server", self.server.uri)
        publisher = await connected(self, self.server.uri)
        await publish_until(publisher, sub.when_lines(1), "warm.up")
        suspend(self, sub)

        pad = "x" * 1000
        for n in range(1000):
            await within(publisher.publish("load", {"n": n, "pad": pad}), WAIT)

        stats = await publisher.stats()
        self.assertEqual(stats["closed"].get("SLOW_CONSUMER"), 1, stats["closed"])
        self.assertEqual(stats["slow_consumers"], 1)
        self.assertIn("SLOW_CONSUMER: a slow consumer: its queue stayed full for 2 seconds",
                      self.server.output)
        await self.assertPairUnharmed()


class SilentPeerTests(MisbehavingTestCase):
    options = ("--heartbeat", "0.5")

    async def test_a_peer_that_never_answers_is_closed_and_told_why(self):
        silent = await raw_peer(self, self.server.uri)
        boxes = await within(silent.closed, WAIT)
        self.assertIn(b"heartbeat", [box.get(amp.COMMAND) for box in boxes])
        self.assertEqual(silent.goodbye(), "HEARTBEAT_TIMEOUT")
        await self.assertPairUnharmed()


class UnfinishedBoxTests(MisbehavingTestCase):
    options = ("--read-timeout", "1", "--heartbeat", "0")

    async def test_a_box_that_never_ends_is_closed(self):
        hoarder = await raw_peer(self, self.server.uri)
        hoarder.transport.write(b"\x00\x08_command\x00\x07publish\x00\x07payload\xff\xff" + b"x" * 1000)
        await within(hoarder.closed, WAIT)
        self.assertEqual(hoarder.goodbye(), "READ_TIMEOUT")
        await self.assertPairUnharmed()


class ConnectionLimitTests(MisbehavingTestCase):
    options = ("--max-connections", "3")

    async def test_a_connection_past_the_limit_is_told_and_closed(self):
        await connected(self, self.server.uri)  # the pair's two, and this: 3
        extra = await raw_peer(self, self.server.uri)
        await within(extra.closed, WAIT)
        self.assertEqual(extra.goodbye(), "MAX_CONNECTIONS")
        await self.assertPairUnharmed()


class MemoryBudgetTests(MisbehavingTestCase):
    options = ("--max-memory-bytes", "3000000", "--heartbeat", "0")

    async def test_connections_hoarding_unfinished_boxes_are_cut_to_fit_the_budget(self):
        """
        Ten connections each begin a publish of almost 1 MB and never end
        it: the server holds no more than its budget of 3 MB, so it cuts
        off at least seven of them, the largest each time.
        """
        hoarders = [await raw_peer(self, self.server.uri) for _ in range(10)]
        chunk = b"\x00\x07payload\xff\xff" + b"x" * 65535
        for hoarder in hoarders:
            hoarder.transport.write(b"\x00\x08_command\x00\x07publish" + chunk * 15)
        await within(at_least(7, [hoarder.closed for hoarder in hoarders]), WAIT)
        self.assertEqual({hoarder.goodbye() for hoarder in hoarders if hoarder.closed.called},
                         {"MEMORY_BUDGET"})
        stats = await (await connected(self, self.server.uri)).stats()
        self.assertGreaterEqual(stats["closed"]["MEMORY_BUDGET"], 7, stats)
        self.assertLessEqual(stats["memory_bytes"], 3_000_000)
        # A charge past the budget is at most one read (64 KiB) before the cut.
        self.assertLessEqual(stats["memory_peak_bytes"], 3_000_000 + 65_536)
        await self.assertPairUnharmed()


class LimitTests(MisbehavingTestCase):
    async def test_an_emit_naming_twenty_thousand_subjects_is_refused(self):
        """
        The attack that made 9.3 GiB of events: one Emit record naming
        20,000 subjects with a 500 kB message.  The box is refused as soon
        as the length of that array is read, and counted.
        """
        watcher = await connected(self, self.server.uri)
        everything = Collector()
        await watcher.subscribe_match("s", everything)
        asker = await raw_peer(self, self.server.uri)
        subjects = [f"s{n}" for n in range(20_000)]
        box = Emit.makeArguments({"publishes": [(subjects, "raw", b"x" * 500_000)]}, None)
        box[amp.COMMAND], box[amp.ASK] = b"emit", b"1"
        asker.transport.write(box.serialize())
        answer = await within(asker.answered(b"1"), WAIT)
        self.assertEqual(answer[amp.ERROR_CODE], b"LIMIT_EXCEEDED")
        self.assertIn(b"names more than 1000 subjects", answer[amp.ERROR_DESCRIPTION])
        stats = await watcher.stats()
        self.assertEqual(stats["refused"], {"LIMIT_EXCEEDED": 1})
        self.assertEqual(everything.messages, [])
        await self.assertPairUnharmed()

    async def test_patterns_too_big_to_compile_are_refused_at_once(self):
        client = await connected(self, self.server.uri)
        error = await self.assertFailure(
            client.subscribe_match([r"\pL{40}" + "x" * n for n in range(1000)], print),
            BadPattern,
        )
        self.assertIn("--max-pattern-size", str(error))
        await self.assertPairUnharmed()

    async def test_a_publish_naming_too_many_subjects_is_refused(self):
        client = await connected(self, self.server.uri)
        error = await self.assertFailure(
            client.publish([f"s{n}" for n in range(1001)], 1), LimitExceeded
        )
        self.assertIn("--max-publish-subjects", str(error))
        await self.assertPairUnharmed()


def at_least(count: int, deferreds: list[Deferred]) -> Deferred:
    """
    A Deferred that fires once C{count} of C{deferreds} have.
    """
    enough: Deferred = Deferred()
    fired = []

    def one(result: object) -> object:
        fired.append(result)
        if len(fired) == count:
            enough.callback(None)
        return result

    for deferred in deferreds:
        deferred.addBoth(one)
    return enough
