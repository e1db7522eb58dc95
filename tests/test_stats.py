"""
The server's figures: the snapshot (L{eventd.stats}) over in-memory
connections with a controlled clock, the Stats command as bytes on the
wire, the client's C{stats()}, and C{eventd stats} against a real server.
"""

import json

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.protocols import amp
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase

from eventd.broker import SubscriptionManager
from eventd.commands import (
    MAX_VALUE_BYTES,
    Publish,
    Stats,
    Subscribe,
    SubscribeMatch,
    Unsubscribe,
)
from eventd.config import ServerConfig
from eventd.protocol import EventServerFactory
from eventd.queues import WhenFull
from eventd.stats import server_stats
from tests.servers import Collector, connected, run_server, serve_in_process, within
from tests.test_cli import WAIT, run
from tests.test_protocol import Peer

TOTAL_KEYS = {
    "uptime",
    "connections",
    "subscriptions",
    "patterns",
    "published",
    "delivered",
    "dropped",
    "subscribers",
}
COLUMNS = ["peer", "subscriptions", "queue_depth", "high_water", "delivered", "dropped"]
SUBSCRIBER_KEYS = set(COLUMNS)


class NamedPeer(Peer):
    """
    A L{Peer} whose address is C{127.0.0.1:port}, so each has its own name
    in the figures.
    """

    def __init__(self, factory: EventServerFactory, port: int) -> None:
        address = IPv4Address("TCP", "127.0.0.1", port)
        self.transport = StringTransport(peerAddress=address)
        self.protocol = factory.buildProtocol(None)
        self.protocol.makeConnection(self.transport)
        self._tags = 0

    def close(self) -> None:
        self.protocol.connectionLost(Failure(ConnectionDone()))


class FiguresTestCase(SynchronousTestCase):
    config = ServerConfig()

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(1_000)
        self.factory = EventServerFactory(SubscriptionManager(), self.config, self.clock)
        self.ports = iter(range(40_001, 50_000))

    def peer(self) -> NamedPeer:
        return NamedPeer(self.factory, next(self.ports))

    def publish(self, peer: Peer, *subjects: str) -> None:
        peer.send(Publish, subjects=list(subjects), codec="json", payload=b"1")


class SnapshotTests(FiguresTestCase):
    def test_a_new_server_has_counted_nothing_and_knows_its_age(self):
        self.clock.advance(12.5)
        stats = server_stats(self.factory)
        self.assertEqual(stats.uptime, 12.5)
        self.assertEqual(
            stats.as_dict(),
            {
                "uptime": 12.5,
                "connections": 0,
                "subscriptions": 0,
                "patterns": 0,
                "published": 0,
                "delivered": 0,
                "dropped": 0,
                "subscribers": [],
            },
        )

    def test_subscribers_publishes_and_deliveries(self):
        first, second, publisher = self.peer(), self.peer(), self.peer()
        # news and NEWS are one subject; ^sport is held by both.
        first.send(Subscribe, subjects=["news", "NEWS", "weather"])
        first.send(SubscribeMatch, patterns=["^sport"])
        second.send(SubscribeMatch, patterns=["^sport"])
        self.publish(publisher, "news", "sport.golf")
        self.publish(publisher, "News")
        self.publish(publisher, "nobody")
        self.clock.advance(0)
        stats = server_stats(self.factory).as_dict()
        self.assertEqual(
            {key: stats[key] for key in TOTAL_KEYS - {"uptime", "subscribers"}},
            {
                "connections": 3,
                "subscriptions": 4,
                "patterns": 1,
                "published": 4,
                "delivered": 4,
                "dropped": 0,
            },
        )
        self.assertEqual(
            stats["subscribers"],
            [
                {
                    "peer": "127.0.0.1:40001",
                    "subscriptions": 3,
                    "queue_depth": 0,
                    "high_water": 2,
                    "delivered": 3,
                    "dropped": 0,
                },
                {
                    "peer": "127.0.0.1:40002",
                    "subscriptions": 1,
                    "queue_depth": 0,
                    "high_water": 0,
                    "delivered": 1,
                    "dropped": 0,
                },
            ],
        )

    def test_subscribers_are_ordered_by_peer(self):
        peers = [NamedPeer(self.factory, port) for port in (40_300, 40_100, 40_200)]
        for peer in peers:
            peer.send(Subscribe, subjects=["x"])
        names = [row.peer for row in server_stats(self.factory).subscribers]
        self.assertEqual(names, ["127.0.0.1:40100", "127.0.0.1:40200", "127.0.0.1:40300"])

    def test_a_connection_without_subscriptions_is_no_subscriber(self):
        peer = self.peer()
        peer.send(Subscribe, subjects=["x"])
        peer.send(Unsubscribe, subjects=["x"])
        stats = server_stats(self.factory)
        self.assertEqual((stats.connections, stats.subscribers), (1, ()))

    def test_queued_events_count_until_written(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.send(Subscribe, subjects=["x"])
        for _ in range(5):
            self.publish(publisher, "x")
        [row] = server_stats(self.factory).subscribers
        # The first went out at once (the first of a turn does).
        self.assertEqual((row.queue_depth, row.high_water, row.delivered), (4, 4, 1))
        self.clock.advance(0)
        [row] = server_stats(self.factory).subscribers
        self.assertEqual((row.queue_depth, row.high_water, row.delivered), (0, 4, 5))

    def test_totals_keep_what_closed_connections_received(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.send(Subscribe, subjects=["x"])
        self.publish(publisher, "x", "x")
        self.clock.advance(0)
        subscriber.close()
        stats = server_stats(self.factory)
        self.assertEqual(
            (stats.connections, stats.subscribers, stats.published, stats.delivered),
            (1, (), 2, 2),
        )
        # A later subscriber adds to them.
        later = self.peer()
        later.send(Subscribe, subjects=["x"])
        self.publish(publisher, "x")
        self.clock.advance(0)
        self.assertEqual(server_stats(self.factory).delivered, 3)


class DropTests(FiguresTestCase):
    config = ServerConfig(queue_size=2, when_full=WhenFull.DROP)

    def test_drops_are_counted_per_subscriber_and_in_all(self):
        slow, fast, publisher = self.peer(), self.peer(), self.peer()
        for peer in (slow, fast):
            peer.send(Subscribe, subjects=["x"])
        # The slow one's socket is full: its queue holds 2, drops the rest.
        slow.protocol.session.queue.pauseProducing()
        for _ in range(5):
            self.publish(publisher, "x")
            self.clock.advance(0)
        stats = server_stats(self.factory)
        rows = {row.peer: row for row in stats.subscribers}
        slow_row, fast_row = rows["127.0.0.1:40001"], rows["127.0.0.1:40002"]
        self.assertEqual((slow_row.queue_depth, slow_row.high_water), (2, 2))
        self.assertEqual((slow_row.delivered, slow_row.dropped), (0, 3))
        self.assertEqual((fast_row.delivered, fast_row.dropped), (5, 0))
        self.assertEqual((stats.delivered, stats.dropped), (5, 3))
        slow.close()
        stats = server_stats(self.factory)
        self.assertEqual((stats.delivered, stats.dropped), (5, 3))


class CommandTests(FiguresTestCase):
    """
    The Stats command as a client in another language sees it: a box whose
    C{stats} value is JSON text.
    """

    def test_the_answer_is_the_snapshot_as_json(self):
        subscriber, asker = self.peer(), self.peer()
        subscriber.send(Subscribe, subjects=["x"])
        self.publish(asker, "x")
        self.clock.advance(0)
        box = asker.answer(asker.send(Stats))
        self.assertEqual(set(box), {amp.ANSWER, b"stats"})
        figures = json.loads(box[b"stats"].decode("utf-8"))
        self.assertEqual(figures, server_stats(self.factory).as_dict())
        self.assertEqual(set(figures), TOTAL_KEYS)
        self.assertEqual(set(figures["subscribers"][0]), SUBSCRIBER_KEYS)
        self.assertEqual((figures["connections"], figures["delivered"]), (2, 1))

    def test_many_subscribers_are_chunked_over_several_values(self):
        for _ in range(1_000):
            self.peer().send(Subscribe, subjects=["x"])
        asker = self.peer()
        box = asker.answer(asker.send(Stats))
        self.assertIn(b"stats.2", box)
        self.assertEqual(len(box[b"stats"]), MAX_VALUE_BYTES)
        figures = Stats.parseResponse(box, None)["stats"]
        self.assertEqual(len(figures["subscribers"]), 1_000)
        self.assertEqual(figures["connections"], 1_001)


class ClientTests(TestCase):
    timeout = 90

    async def test_stats_fires_with_the_figures(self):
        service = await serve_in_process(self)
        subscriber = await connected(self, service.uris[0])
        asker = await connected(self, service.uris[0])
        got = Collector(2)
        await subscriber.subscribe("x", got)
        await subscriber.subscribe_match("^y", got)
        await asker.publish(["x", "yes", "no"], 1)
        await within(got.done, WAIT)
        figures = await within(asker.stats(), WAIT)
        self.assertEqual(
            {key: figures[key] for key in ("connections", "subscriptions", "patterns")},
            {"connections": 2, "subscriptions": 2, "patterns": 1},
        )
        self.assertEqual((figures["published"], figures["delivered"]), (3, 2))
        [row] = figures["subscribers"]
        self.assertEqual((row["subscriptions"], row["delivered"]), (2, 2))
        self.assertGreaterEqual(figures["uptime"], 0)


class CommandLineTests(TestCase):
    timeout = 90

    async def setUp(self):
        self.server = await run_server(self, "-p", "0")
        first = await connected(self, self.server.uri)
        second = await connected(self, self.server.uri)
        publisher = await connected(self, self.server.uri)
        got_first, got_second = Collector(4), Collector(4)
        await first.subscribe(["news", "sport", "other"], got_first)
        await second.subscribe("news", got_second)
        await second.subscribe_match("^sp", got_second)
        for message in range(3):
            await publisher.publish("news", message)
        await publisher.publish("sport", "final")
        await publisher.publish("weather", "nobody listens")
        await within(got_first.done, WAIT)
        await within(got_second.done, WAIT)

    async def test_json_gives_the_figures(self):
        command = await run(self, "stats", "--json", "--server", self.server.uri)
        self.assertEqual((command.exit_code, command.stderr), (0, b""), command)
        figures = json.loads(command.stdout)
        self.assertEqual(set(figures), TOTAL_KEYS)
        self.assertEqual(
            {key: figures[key] for key in TOTAL_KEYS - {"uptime", "subscribers"}},
            {
                # Two subscribers, the publisher, and eventd stats itself.
                "connections": 4,
                "subscriptions": 5,
                "patterns": 1,
                "published": 5,
                "delivered": 8,
                "dropped": 0,
            },
        )
        rows = figures["subscribers"]
        self.assertEqual([set(row) for row in rows], [SUBSCRIBER_KEYS] * 2)
        self.assertEqual(
            sorted(
                (row["subscriptions"], row["delivered"], row["queue_depth"])
                for row in rows
            ),
            [(2, 4, 0), (3, 4, 0)],
        )
        self.assertTrue(all(row["peer"].startswith("127.0.0.1:") for row in rows), rows)

    async def test_the_table_shows_totals_and_a_row_per_subscriber(self):
        command = await run(self, "stats", "--server", self.server.uri)
        self.assertEqual((command.exit_code, command.stderr), (0, b""), command)
        lines = command.stdout.decode().splitlines()
        totals = dict(line.split(None, 1) for line in lines[: lines.index("")])
        self.assertEqual(
            {name: totals[name] for name in ("connections", "subscribers", "published")},
            {"connections": "4", "subscribers": "2", "published": "5"},
        )
        self.assertEqual(
            (totals["subscriptions"], totals["delivered"], totals["dropped"]),
            ("5", "8", "0"),
        )
        self.assertRegex(totals["uptime"], r"^\d+:\d\d:\d\d$")
        header = lines.index("") + 1
        self.assertEqual(lines[header].split(), COLUMNS)
        rows = [line.split() for line in lines[header + 1 :]]
        self.assertEqual(len(rows), 2, lines)
        # Columns: peer, subscriptions, queue_depth, high_water, delivered,
        # dropped.  How many events ever waited (high_water) depends on how
        # they met the reactor's turns: 0 or 1 for these answered publishes.
        self.assertEqual(
            sorted(row[1:3] + row[4:] for row in rows),
            [["2", "0", "4", "0"], ["3", "0", "4", "0"]],
        )
        self.assertTrue({row[3] for row in rows} <= {"0", "1"}, rows)

    async def test_an_unreachable_server_is_one_line_and_status_1(self):
        await self.server.stop()
        command = await run(self, "stats", "--server", self.server.uri)
        self.assertEqual(command.exit_code, 1, command)
        [error] = command.stderr.decode().splitlines()
        expected = f"eventd: cannot reach the event server at {self.server.uri}: "
        self.assertTrue(error.startswith(expected), error)
        self.assertEqual(command.stdout, b"")
