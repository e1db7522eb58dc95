"""
The Twisted client against a server in this process, over loopback.
"""

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.error import ConnectionClosed, ConnectionRefusedError
from twisted.internet.task import deferLater
from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from eventd.client import connect
from eventd.server import EventService
from eventd.server.config import ServerConfig
from tests.servers import Collector, connected, serve_in_process, within


class ClientTestCase(TestCase):
    timeout = 60

    async def setUp(self):
        self.service = await serve_in_process(self)
        self.uri = self.service.uris[0]
        self.client = await connected(self, self.uri)
        self.publisher = await connected(self, self.uri)


class ConnectTests(ClientTestCase):
    async def test_the_banner_line_itself_is_accepted(self):
        client = await connected(self, f"URI= {self.uri}")
        self.assertGreater(await client.publish("x", 1), 0)

    async def test_no_server_fails_at_once(self):
        port = int(self.uri.rsplit(":", 1)[1])
        await self.service.stopService()
        await self.assertFailure(
            within(connect(f"tcp:127.0.0.1:{port}"), 10), ConnectionRefusedError
        )

    async def test_unknown_codec_is_refused(self):
        error = self.assertRaises(ValueError, connect, self.uri, codec="yaml")
        self.assertIn("json", str(error))


class HandlerTests(ClientTestCase):
    async def test_each_distinct_handler_runs_once(self):
        first, second = Collector(1), Collector(1)
        await self.client.subscribe("news", first)
        await self.client.subscribe_match("^NEWS", first)
        await self.client.subscribe("news", second)
        await self.publisher.publish("news", "x")
        await self.publisher.publish("after", "marker")
        self.assertEqual(await within(first.done, 10), ["x"])
        self.assertEqual(await within(second.done, 10), ["x"])

    async def test_a_failing_handler_is_logged_and_delivery_goes_on(self):
        logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        got = Collector(2)

        def fragile(event):
            got(event)
            if event.msg == "bad":
                raise ValueError("cannot handle")

        await self.client.subscribe("fragile", fragile)
        await self.publisher.publish("fragile", "bad")
        await self.publisher.publish("fragile", "good")
        self.assertEqual(await within(got.done, 10), ["bad", "good"])
        self.assertEqual(len(self.flushLoggedErrors(ValueError)), 1)
        [failure] = [e for e in logged if "log_failure" in e]
        self.assertEqual(failure["subject"], "fragile")

    async def test_a_coroutine_handler_delays_later_events(self):
        order = []
        done = Deferred()

        async def handler(event):
            order.append(("start", event.msg))
            await deferLater(reactor, 0.01, lambda: None)
            order.append(("end", event.msg))
            if event.msg == 2:
                done.callback(None)

        await self.client.subscribe("co", handler)
        await self.publisher.publish("co", 1)
        await self.publisher.publish("co", 2)
        await within(done, 10)
        self.assertEqual(order, [("start", 1), ("end", 1), ("start", 2), ("end", 2)])

    async def test_unsubscribe_stops_the_handlers(self):
        got = Collector(1)
        await self.client.subscribe(["a", "b"], got)
        await self.client.unsubscribe("A")
        self.assertEqual(self.service.broker.subjects, ["b"])
        await self.publisher.publish("a", "no")
        await self.publisher.publish("b", "yes")
        self.assertEqual(await within(got.done, 10), ["yes"])

    async def test_more_subjects_than_one_amp_value_holds(self):
        subjects = [f"subject.number.{n:06d}" for n in range(5000)]
        await self.client.subscribe(subjects, print)
        self.assertEqual(len(self.service.broker.subjects), 5000)


class CodecTests(ClientTestCase):
    async def test_json_turns_tuples_into_lists(self):
        got = Collector(1)
        await self.client.subscribe("t", got)
        await self.publisher.publish("t", ("SUN", 22.44))
        self.assertEqual(await within(got.done, 10), [["SUN", 22.44]])

    def test_a_message_json_cannot_encode_is_refused_at_once(self):
        error = self.assertRaises(TypeError, self.publisher.publish, "t", object())
        self.assertIn("object", str(error))
        self.assertIn("codec", str(error))

    async def test_raw_carries_bytes(self):
        raw = await connected(self, self.uri, codec="raw")
        got = Collector(1)
        await self.client.subscribe("r", got)
        await raw.publish("r", b"\x00\xff")
        self.assertEqual(await within(got.done, 10), [b"\x00\xff"])


class ReconnectTests(ClientTestCase):
    async def _stop_server(self):
        lost = [client.when_disconnected() for client in (self.client, self.publisher)]
        await self.service.stopService()
        for disconnected in lost:
            await within(disconnected, 10)

    async def test_subscriptions_come_back_with_the_server(self):
        port = int(self.uri.rsplit(":", 1)[1])
        got = Collector(2)
        await self.client.subscribe("exact", got)
        await self.client.subscribe_match(r"^pat\.", got)
        await self._stop_server()
        waiting = self.client.publish("exact", "queued while down")

        restarted = EventService(
            [TCP4ServerEndpoint(reactor, port, interface="127.0.0.1")],
            ServerConfig(),
            reactor,
        )
        restarted.startService()
        self.addCleanup(restarted.stopService)
        await within(waiting, 30)
        self.assertEqual(restarted.broker.subjects, ["exact"])
        self.assertEqual(restarted.broker.patterns, [r"^pat\."])
        await self.publisher.publish("pat.x", "after")
        self.assertEqual(await within(got.done, 10), ["queued while down", "after"])

    async def test_close_fails_calls_waiting_for_a_connection(self):
        await self._stop_server()
        waiting = self.publisher.publish("x", 1)
        await self.publisher.close()
        await self.assertFailure(waiting, ConnectionClosed)


class EmitTests(ClientTestCase):
    async def test_emitted_events_arrive_in_order_before_a_later_publish_answer(self):
        got = Collector(1000)
        await self.client.subscribe("fast", got)
        for n in range(1000):
            self.assertIsNone(self.publisher.emit("fast", n))
        # One connection, one order: the publish's answer comes after every
        # emitted publish before it was handled.
        await self.publisher.publish("other", None)
        self.assertEqual(await within(got.done, 10), list(range(1000)))

    async def test_a_publish_after_an_emit_arrives_after_it(self):
        got = Collector(2)
        await self.client.subscribe("order", got)
        self.assertIsNone(self.publisher.emit("order", "emitted first"))
        await self.publisher.publish("order", "published second")
        self.assertEqual(await within(got.done, 10), ["emitted first", "published second"])

    def test_a_message_json_cannot_encode_is_refused_at_once(self):
        self.assertRaises(TypeError, self.publisher.emit, "x", object())

    async def test_emits_made_while_disconnected_go_out_on_reconnection(self):
        """
        The client subscribes again before it sends what it emitted, so its
        own subscription sees its own emit, whichever client reconnects
        first.
        """
        port = int(self.uri.rsplit(":", 1)[1])
        got = Collector(1)
        await self.client.subscribe("later", got)
        lost = self.client.when_disconnected()
        await self.service.stopService()
        await within(lost, 10)
        self.assertIsNone(self.client.emit("later", "kept"))
        restarted = EventService(
            [TCP4ServerEndpoint(reactor, port, interface="127.0.0.1")], ServerConfig(), reactor
        )
        restarted.startService()
        self.addCleanup(restarted.stopService)
        self.assertEqual(await within(got.done, 30), ["kept"])
