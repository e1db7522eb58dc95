"""
The event service in this process, over real loopback sockets: what the
broker saw can be checked directly.
"""

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.error import CannotListenError
from twisted.internet.task import deferLater
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from eventd.errors import BadSubject, MessageTooLarge
from eventd.server import EventService, WhenFull
from eventd.server.config import ServerConfig
from tests.servers import Collector, connected, serve_in_process, within

LOAD_EVENTS = 5000
PAD = "x" * 1000


class ListeningTests(TestCase):
    async def test_banner_lines_follow_listening(self):
        logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        service = await serve_in_process(self)
        texts = [e["log_format"].format(**e) for e in logged if "log_format" in e]
        self.assertIn(f"URI= {service.uris[0]}", texts)
        self.assertEqual(texts[-1], "Event Server started.")

    async def test_a_taken_port_fails_the_start(self):
        service = await serve_in_process(self)
        port = int(service.uris[0].rsplit(":", 1)[1])
        second = EventService(
            [TCP4ServerEndpoint(reactor, port, interface="127.0.0.1")],
            ServerConfig(),
            reactor,
        )
        self.assertRaises(CannotListenError, second.startService)

    async def test_stopping_closes_client_connections(self):
        service = await serve_in_process(self)
        await connected(self, service.uris[0])
        self.assertEqual(len(service.factory.connections), 1)
        await service.stopService()
        self.assertEqual(service.factory.connections, set())

    async def test_a_closed_subscriber_leaves_no_subscriptions(self):
        service = await serve_in_process(self)
        client = await connected(self, service.uris[0])
        await client.subscribe("gone", print)
        self.assertEqual(len(service.broker.subscribers), 1)
        lost = Deferred()
        protocol = next(iter(service.factory.connections))
        protocol.connectionLost, original = (
            lambda reason: (original(reason), lost.callback(None)),
            protocol.connectionLost,
        )
        await client.close()
        await within(lost, 10)
        self.assertEqual(service.broker.subscribers, [])


class DropModeTests(TestCase):
    timeout = 120

    async def test_a_slow_subscriber_loses_events_and_the_fast_ones_none(self):
        """
        Drop mode, --queue-size 100: five fast subscribers get all 5,000
        events; a subscriber handling one event per 2 ms gets an ordered
        subset, and the server counted exactly what it did not get.
        """
        service = await serve_in_process(self, queue_size=100, when_full=WhenFull.DROP)
        uri = service.uris[0]
        fast = [Collector(LOAD_EVENTS) for _ in range(5)]
        for handler in fast:
            await (await connected(self, uri)).subscribe("load", handler)
        slow_messages = []
        slow_done = Deferred()
        expected = []

        def slow(event):
            def handled():
                slow_messages.append(event.msg["n"])
                if expected and len(slow_messages) == expected[0]:
                    slow_done.callback(None)

            return deferLater(reactor, 0.002, handled)

        await (await connected(self, uri)).subscribe(["load", "slow"], slow)
        [slow_queue] = [
            queue
            for queue in service.broker.subscribers
            if "slow" in service.broker.subscriptions_of(queue)[0]
        ]
        publisher = await connected(self, uri)
        for n in range(LOAD_EVENTS):
            await publisher.publish("load", {"n": n, "pad": PAD})

        everything = list(range(LOAD_EVENTS))
        for handler in fast:
            self.assertEqual([m["n"] for m in await within(handler.done, 60)], everything)
        expected.append(LOAD_EVENTS - slow_queue.dropped)
        if len(slow_messages) < expected[0]:
            await within(slow_done, 60)
        print(
            f"drop mode: the slow subscriber got {len(slow_messages)} of {LOAD_EVENTS};"
            f" the server counted {slow_queue.dropped} dropped"
        )
        self.assertGreater(slow_queue.dropped, 0)
        self.assertEqual(len(slow_messages), LOAD_EVENTS - slow_queue.dropped)
        self.assertEqual(slow_messages, sorted(set(slow_messages)))
        self.assertTrue(set(slow_messages) <= set(everything))
        fast_drops = [
            q.dropped for q in service.broker.subscribers if q is not slow_queue
        ]
        self.assertEqual(fast_drops, [0] * len(fast))


class InProcessPublishTests(TestCase):
    async def test_the_service_publishes_without_a_socket(self):
        service = await serve_in_process(self)
        got = Collector(1)
        await (await connected(self, service.uris[0])).subscribe("local", got)
        time = await service.publish(["local"], {"from": "inside"})
        self.assertEqual(await within(got.done, 10), [{"from": "inside"}])
        self.assertGreater(time, 0)

    async def test_it_checks_what_it_publishes_as_a_client_publish_is(self):
        service = await serve_in_process(self, max_message_bytes=10)
        self.assertRaises(MessageTooLarge, service.publish, "x", "y" * 20)
        self.assertRaises(BadSubject, service.publish, "", 1)
        self.assertRaises(TypeError, service.publish, "x", object())


class GracefulStopTests(TestCase):
    timeout = 60

    async def test_queued_events_are_delivered_before_the_connections_close(self):
        service = await serve_in_process(self, shutdown_seconds=10)
        got = []
        all_in = Deferred()

        def slow(event):
            def handled():
                got.append(event.msg)
                if len(got) == 300:
                    all_in.callback(None)

            return deferLater(reactor, 0.002, handled)

        subscriber = await connected(self, service.uris[0])
        await subscriber.subscribe("drain", slow)
        publisher = await connected(self, service.uris[0])
        for n in range(300):
            await publisher.publish("drain", n)
        await service.stopService()
        await within(all_in, 10)
        self.assertEqual(got, list(range(300)))

    async def test_what_cannot_be_delivered_in_time_is_logged_and_dropped(self):
        logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        service = await serve_in_process(
            self, shutdown_seconds=0.5, queue_size=5000, when_full=WhenFull.DROP
        )
        stalled = Deferred()
        self.addCleanup(lambda: stalled.called or stalled.callback(None))
        subscriber = await connected(self, service.uris[0])
        await subscriber.subscribe("stuck", lambda event: stalled)
        publisher = await connected(self, service.uris[0])
        for n in range(3000):
            await publisher.publish("stuck", {"n": n, "pad": PAD})
        started = reactor.seconds()
        await within(service.stopService(), 10)
        self.assertLess(reactor.seconds() - started, 0.5 + 1.0 + 1.0)
        [warning] = [e for e in logged if "undelivered" in e.get("log_format", "")]
        self.assertEqual(warning["count"], 1)
        self.assertGreater(warning["events"], 0)
        self.assertEqual(service.factory.connections, set())
