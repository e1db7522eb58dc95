"""
End to end, as users run it: a real `twistd -n eventd` process on a loopback
port, and the Twisted client over real sockets.
"""

import socket
import sys

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.task import LoopingCall, deferLater
from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from eventd.client.connection import INBOX_HIGH
from eventd.errors import BadPattern, MessageTooLarge
from tests.servers import (
    PROJECT,
    START_SECONDS,
    TWISTD,
    Collector,
    FixedReceiveBuffer,
    connected,
    round_trip,
    run_server,
    spawn,
    within,
)

LOAD_EVENTS = 5000
PAD = "x" * 1000  # events of about 1 KiB: small ones vanish into socket buffers

SOCKET_BUFFER = 64 * 1024
"""The server's SO_SNDBUF and the subscriber's SO_RCVBUF, as set."""

WRITE_BUFFER = 2 * 64 * 1024
"""
What the server's transport may hold: it pauses its producer past 64 KiB,
after a write of up to one batch (64 KiB).
"""

READ_CHUNK = 64 * 1024
"""What the subscriber's transport reads at once, all of it parsed."""


class PluginTests(TestCase):
    timeout = 60

    async def test_twistd_finds_the_plugin_and_lists_its_options(self):
        out, err, code = await getProcessOutputAndValue(
            TWISTD, ["eventd", "--help"], path="/"
        )
        self.assertEqual(code, 0, err)
        for option in (b"--listen", b"--port", b"--host", b"--queue-size", b"--when-full",
                       b"--max-message-bytes"):
            self.assertIn(option, out)

    async def test_bad_option_is_refused_with_a_clear_message(self):
        out, err, code = await getProcessOutputAndValue(
            TWISTD, ["-n", "--pidfile=", "eventd", "--when-full", "sometimes"], path="/"
        )
        self.assertNotEqual(code, 0)
        self.assertIn(b"--when-full must be one of 'block', 'drop', 'drop-oldest'", out + err)

    async def test_banner_names_the_port_really_bound(self):
        server = await run_server(self, "-p", "0")
        self.assertRegex(server.uri, r"^tcp:127\.0\.0\.1:\d+$")
        self.assertNotEqual(server.port, 0)
        with socket.create_connection(("127.0.0.1", server.port), timeout=5):
            pass

    async def test_banner_escapes_ipv6_colons(self):
        server = await run_server(self, "--listen", r"tcp:0:interface=\:\:1")
        self.assertRegex(server.uri, r"^tcp:\\:\\:1:\d+$")
        client = await connected(self, server.uri)
        self.assertGreater(await client.publish("ipv6", 1), 0)

    async def test_one_uri_line_per_listening_port(self):
        server = await run_server(
            self, "--listen", "tcp:0:interface=127.0.0.1", "--listen", "tcp:0:interface=127.0.0.1"
        )
        self.assertEqual(len(server.uris), 2)
        self.assertNotEqual(server.uris[0], server.uris[1])

    async def test_python_m_eventd_runs_the_same_server(self):
        process = spawn(self, [sys.executable, "-m", "eventd", "-p", "0"])
        uris = await within(process.started, START_SECONDS)
        await round_trip(self, uris[0])

    async def test_tac_file_takes_its_options_from_the_environment(self):
        process = spawn(
            self,
            [TWISTD, "-n", "--pidfile=", "-y", str(PROJECT / "eventd.tac")],
            env={"EVENTD_PORT": "0", "EVENTD_QUEUE_SIZE": "10"},
        )
        uris = await within(process.started, START_SECONDS)
        await round_trip(self, uris[0])

    async def test_sigterm_stops_the_server(self):
        server = await run_server(self, "-p", "0")
        await server.stop()
        self.assertIn("Server Shut Down.", server.output)


class PublishSubscribeTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.server = await run_server(self, "-p", "0")
        self.publisher = await connected(self, self.server.uri)
        self.subscriber = await connected(self, self.server.uri)

    async def test_events_carry_subject_as_written_msg_and_one_server_time(self):
        events = []
        done = Deferred()

        def handler(event):
            events.append(event)
            if len(events) == 2:
                done.callback(None)

        await self.subscriber.subscribe(["quotes.sun", "QUOTES.IBM"], handler)
        time = await self.publisher.publish(["Quotes.Sun", "quotes.ibm"], ("SUN", 22.44))
        await within(done, 10)
        self.assertEqual([e.subject for e in events], ["Quotes.Sun", "quotes.ibm"])
        self.assertEqual([e.msg for e in events], [["SUN", 22.44]] * 2)
        self.assertEqual({e.time for e in events}, {time})

    async def test_exact_and_pattern_match_deliver_once(self):
        got = Collector(2)
        await self.subscriber.subscribe("stock.sun", got)
        await self.subscriber.subscribe_match(r"^stock\.s.*$", got)
        await self.publisher.publish("STOCK.SUN", 1)
        await self.publisher.publish("stock.sap", 2)
        self.assertEqual(await within(got.done, 10), [1, 2])

    async def test_messages_beyond_one_amp_value_arrive_whole(self):
        big = "b" * 900_000
        got = Collector(1)
        await self.subscriber.subscribe("big", got)
        await self.publisher.publish("big", big)
        self.assertEqual(await within(got.done, 10), [big])

    async def test_too_big_a_message_is_refused_and_the_connection_stays_usable(self):
        error = await self.assertFailure(
            self.publisher.publish("big", "b" * 3_000_000), MessageTooLarge
        )
        self.assertIn("1048576 bytes", str(error))
        got = Collector(1)
        await self.subscriber.subscribe("after", got)
        await self.publisher.publish("after", "fine")
        self.assertEqual(await within(got.done, 10), ["fine"])

    async def test_a_pattern_re2_refuses_is_named_in_the_error(self):
        error = await self.assertFailure(
            self.subscriber.subscribe_match(r"(a)\1", print), BadPattern
        )
        self.assertIn(r"(a)\1", str(error))

    async def test_events_from_one_publisher_arrive_in_publish_order(self):
        got = Collector(2000)
        await self.subscriber.subscribe("order", got)
        for n in range(2000):
            self.publisher.publish("order", n)
        self.assertEqual(await within(got.done, 30), list(range(2000)))

    async def test_unsubscribe_stops_delivery(self):
        got = Collector(2)
        await self.subscriber.subscribe(["a", "b"], got)
        await self.subscriber.unsubscribe("a")
        await self.publisher.publish("a", "gone")
        await self.publisher.publish("b", "kept")
        await self.publisher.publish("b", "kept too")
        self.assertEqual(await within(got.done, 10), ["kept", "kept too"])

    async def test_garbage_from_one_client_costs_only_that_client(self):
        got = Collector(1)
        await self.subscriber.subscribe("still", got)
        with socket.create_connection(("127.0.0.1", self.server.port), timeout=5) as rogue:
            rogue.sendall(b"\xff\xff" + b"garbage" * 100)
            # Told why, then closed: read until the end (the socket's
            # timeout bounds each read).
            told = b""
            while chunk := await deferLater(reactor, 0, rogue.recv, 4096):
                told += chunk
            self.assertIn(b"goodbye", told)
            self.assertIn(b"PROTOCOL_ERROR", told)
        await self.publisher.publish("still", "alive")
        self.assertEqual(await within(got.done, 10), ["alive"])
        self.assertIn("disconnected", self.server.output)


class BackpressureTests(TestCase):
    timeout = 120

    async def test_block_mode_holds_the_publisher_back_and_loses_nothing(self):
        """
        A subscriber handling one event per 2 ms, a publisher sending 5,000
        events of 1 KiB one after another, --queue-size 100: every event
        arrives in order, and when the last publish is answered no more
        events are in flight than the setup can hold: the queue, the
        server's write buffer, both sockets' buffers (fixed here) and the
        client's inbox.  A server that never held the publisher back would
        have nearly all 5,000 in flight then.
        """
        server = await run_server(
            self, "-p", "0", "--queue-size", "100", "--send-buffer-bytes", str(SOCKET_BUFFER)
        )
        received = []
        all_in = Deferred()

        def slow(event):
            def handled():
                received.append(event.msg["n"])
                if len(received) == LOAD_EVENTS:
                    all_in.callback(None)

            return deferLater(reactor, 0.002, handled)

        endpoint = FixedReceiveBuffer(server.uri, SOCKET_BUFFER)
        subscriber = await connected(self, endpoint)
        await subscriber.subscribe("load", slow)
        publisher = await connected(self, server.uri)
        for n in range(LOAD_EVENTS):
            await publisher.publish("load", {"n": n, "pad": PAD})
        in_flight = LOAD_EVENTS - len(received)
        await within(all_in, 90)
        self.assertEqual(received, list(range(LOAD_EVENTS)))
        # Linux doubles a SO_SNDBUF/SO_RCVBUF value (socket(7)), and reports
        # the doubled size; the server's send buffer is set as ours is.
        held_bytes = WRITE_BUFFER + 2 * SOCKET_BUFFER + endpoint.granted + READ_CHUNK
        bound = 100 + 1 + held_bytes // len(PAD) + INBOX_HIGH
        print(f"block mode: {in_flight} events in flight when the publisher finished "
              f"(the setup holds at most {bound})")
        self.assertLessEqual(in_flight, bound)

    async def test_reconnect_resubscribes_after_a_server_restart(self):
        server = await run_server(self, "-p", "0")
        got = Collector(1)
        subscriber = await connected(self, server.uri)
        await subscriber.subscribe("after.restart", got)
        await subscriber.subscribe_match(r"^unused\.", got)
        await server.stop()

        restarted = await run_server(self, "-p", str(server.port))
        publisher = await connected(self, restarted.uri)
        repeat = LoopingCall(publisher.publish, "after.restart", "hello again")
        repeat.start(0.05)
        try:
            self.assertEqual((await within(got.done, 30))[0], "hello again")
        finally:
            repeat.stop()
