"""
The server's figures: the snapshot (L{eventd.server.stats}) over in-memory
connections with a controlled clock, the Stats command as bytes on the
wire, and the client's C{stats()} against a server in this process.
"""

import json

from twisted.internet.task import Clock
from twisted.protocols import amp
from twisted.trial.unittest import SynchronousTestCase, TestCase

from eventd.server import WhenFull
from eventd.server.broker import SubscriptionManager
from eventd.server.config import ServerConfig
from eventd.server.protocol import EventServerFactory
from eventd.wire.arguments import MAX_VALUE_BYTES
from eventd.wire.commands import Publish, Stats, Subscribe, SubscribeMatch, Unsubscribe
from tests.server.peers import Peer
from tests.servers import (
    COLUMNS,
    TOTAL_KEYS,
    WAIT,
    Collector,
    connected,
    serve_in_process,
    within,
)

OPEN = {"authentication": "none", "client_certificates": False, "anonymous": True, "acl": "none"}
"""What a server without credentials or an access list says is in force."""


class FiguresTestCase(SynchronousTestCase):
    config = ServerConfig()

    def setUp(self):
        self.clock = Clock()
        self.clock.advance(1_000)
        self.factory = EventServerFactory(
            SubscriptionManager(), self.config, self.clock, timer=lambda: 0.0
        )
        self.ports = iter(range(40_001, 50_000))

    def peer(self) -> Peer:
        return Peer(self.factory, next(self.ports))

    def publish(self, peer: Peer, *subjects: str) -> None:
        peer.send(Publish, subjects=list(subjects), codec="json", payload=b"1")


class SnapshotTests(FiguresTestCase):
    def test_a_new_server_has_counted_nothing_and_knows_its_age(self):
        self.clock.advance(12.5)
        stats = self.factory.stats()
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
                "memory_bytes": 0,
                "memory_peak_bytes": 0,
                "memory_budget_bytes": 1 << 30,
                "slow_consumers": 0,
                "refused": {},
                "closed": {},
                "longest_stall": 0.0,
                "subscribers": [],
                "security": OPEN,
                "logins": {},
                "login_failures": 0,
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
        stats = self.factory.stats().as_dict()
        memory = {"memory_bytes", "memory_peak_bytes", "memory_budget_bytes"}
        self.assertEqual(
            {key: stats[key] for key in TOTAL_KEYS - {"uptime", "subscribers"} - memory},
            {
                "connections": 3,
                "subscriptions": 4,
                "patterns": 1,
                "published": 4,
                "delivered": 4,
                "dropped": 0,
                "slow_consumers": 0,
                "refused": {},
                "closed": {},
                "longest_stall": 0.0,
                "security": OPEN,
                "logins": {},
                "login_failures": 0,
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
                    "queue_bytes": 0,
                    "policy": "block",
                    "user": None,
                },
                {
                    "peer": "127.0.0.1:40002",
                    "subscriptions": 1,
                    "queue_depth": 0,
                    "high_water": 0,
                    "delivered": 1,
                    "dropped": 0,
                    "queue_bytes": 0,
                    "policy": "block",
                    "user": None,
                },
            ],
        )

    def test_subscribers_are_ordered_by_peer(self):
        peers = [Peer(self.factory, port) for port in (40_300, 40_100, 40_200)]
        for peer in peers:
            peer.send(Subscribe, subjects=["x"])
        names = [row.peer for row in self.factory.stats().subscribers]
        self.assertEqual(names, ["127.0.0.1:40100", "127.0.0.1:40200", "127.0.0.1:40300"])

    def test_a_connection_without_subscriptions_is_no_subscriber(self):
        peer = self.peer()
        peer.send(Subscribe, subjects=["x"])
        peer.send(Unsubscribe, subjects=["x"])
        stats = self.factory.stats()
        self.assertEqual((stats.connections, stats.subscribers), (1, ()))

    def test_queued_events_count_until_written(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.send(Subscribe, subjects=["x"])
        for _ in range(5):
            self.publish(publisher, "x")
        [row] = self.factory.stats().subscribers
        # The first went out at once (the first of a turn does).
        self.assertEqual((row.queue_depth, row.high_water, row.delivered), (4, 4, 1))
        self.clock.advance(0)
        [row] = self.factory.stats().subscribers
        self.assertEqual((row.queue_depth, row.high_water, row.delivered), (0, 4, 5))

    def test_totals_keep_what_closed_connections_received(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.send(Subscribe, subjects=["x"])
        self.publish(publisher, "x", "x")
        self.clock.advance(0)
        subscriber.close()
        stats = self.factory.stats()
        self.assertEqual(
            (stats.connections, stats.subscribers, stats.published, stats.delivered),
            (1, (), 2, 2),
        )
        # A later subscriber adds to them.
        later = self.peer()
        later.send(Subscribe, subjects=["x"])
        self.publish(publisher, "x")
        self.clock.advance(0)
        self.assertEqual(self.factory.stats().delivered, 3)


class DropTests(FiguresTestCase):
    config = ServerConfig(queue_size=2, when_full=WhenFull.DROP)

    def test_drops_are_counted_per_subscriber_and_in_all(self):
        slow, fast, publisher = self.peer(), self.peer(), self.peer()
        for peer in (slow, fast):
            peer.send(Subscribe, subjects=["x"])
        # The slow one's socket is full: its queue holds 2, drops the rest.
        slow.protocol.queue.pauseProducing()
        for _ in range(5):
            self.publish(publisher, "x")
            self.clock.advance(0)
        stats = self.factory.stats()
        rows = {row.peer: row for row in stats.subscribers}
        slow_row, fast_row = rows["127.0.0.1:40001"], rows["127.0.0.1:40002"]
        self.assertEqual((slow_row.queue_depth, slow_row.high_water), (2, 2))
        self.assertEqual((slow_row.delivered, slow_row.dropped), (0, 3))
        self.assertEqual((fast_row.delivered, fast_row.dropped), (5, 0))
        self.assertEqual((stats.delivered, stats.dropped), (5, 3))
        slow.close()
        stats = self.factory.stats()
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
        self.assertEqual(figures, self.factory.stats().as_dict())
        self.assertEqual(set(figures), TOTAL_KEYS)
        self.assertEqual(set(figures["subscribers"][0]), set(COLUMNS))
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
