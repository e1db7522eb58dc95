"""
How a connection ends when its client cannot be served: heartbeats, the
read timeout, the slow-consumer timeout, the connection limit and the
memory budget.  In memory, with a controlled clock; the server's sweep is
run by hand.
"""

from dataclasses import replace

from twisted.protocols import amp

from eventd.server.config import Limits, ServerConfig, WhenFull
from eventd.server.protocol import CLOSE_GRACE_SECONDS
from eventd.wire.commands import Heartbeat, Publish, Subscribe, SubscribeMatch
from tests.server.peers import HalfCloseableTransport, Peer, ServerTestCase


class HeartbeatTests(ServerTestCase):
    config = ServerConfig(heartbeat_seconds=30, read_timeout_seconds=600)

    def heartbeats(self, peer: Peer) -> list[amp.AmpBox]:
        return [box for box in peer.received() if box.get(amp.COMMAND) == b"heartbeat"]

    def test_a_quiet_client_is_asked_for_a_heartbeat(self):
        peer = self.peer()
        self.clock.advance(29)
        self.factory.sweep()
        self.assertEqual(self.heartbeats(peer), [])
        self.clock.advance(1)
        self.factory.sweep()
        [heartbeat] = self.heartbeats(peer)
        self.assertIn(amp.ASK, heartbeat)

    def test_a_client_that_answers_stays(self):
        peer = self.peer()
        self.clock.advance(30)
        self.factory.sweep()
        [heartbeat] = self.heartbeats(peer)
        answer = amp.AmpBox({amp.ANSWER: heartbeat[amp.ASK]})
        peer.protocol.dataReceived(answer.serialize())
        self.clock.advance(29)
        self.factory.sweep()
        self.assertFalse(peer.transport.disconnecting)

    def test_a_client_that_does_not_answer_is_cut_off_and_told_why(self):
        peer = self.peer()
        self.clock.advance(30)
        self.factory.sweep()
        peer.received()
        self.clock.advance(30)
        self.factory.sweep()
        code, reason = peer.goodbye()
        self.assertEqual(code, "HEARTBEAT_TIMEOUT")
        self.assertIn("nothing heard for 60 seconds", reason)
        self.assertTrue(peer.transport.disconnecting)
        self.assertEqual(self.factory.counters.closed["HEARTBEAT_TIMEOUT"], 1)

    def test_a_client_taking_what_we_send_is_heard_from(self):
        peer = self.peer()
        self.clock.advance(50)
        peer.protocol.queue.pauseProducing()
        peer.protocol.queue.resumeProducing()  # its transport drained
        self.factory.sweep()
        self.assertEqual(self.heartbeats(peer), [])

    def test_no_heartbeats_when_turned_off(self):
        self.factory.config = replace(self.config, heartbeat_seconds=0)
        peer = self.peer()
        self.clock.advance(1000)
        self.factory.sweep()
        self.assertEqual(peer.received(), [])
        self.assertFalse(peer.transport.disconnecting)

    def test_the_heartbeat_command_is_answered_by_a_client_with_nothing(self):
        self.assertEqual((Heartbeat.arguments, Heartbeat.response), ([], []))


class ReadTimeoutTests(ServerTestCase):
    config = ServerConfig(heartbeat_seconds=0, read_timeout_seconds=60)

    def test_a_box_that_does_not_end_in_time_closes_the_connection(self):
        peer = self.peer()
        box = Publish.makeArguments({"subjects": ["s"], "codec": "raw", "payload": b"x"}, None)
        box[amp.COMMAND], box[amp.ASK] = b"publish", b"1"
        peer.protocol.dataReceived(box.serialize()[:-5])
        self.clock.advance(59)
        self.factory.sweep()
        self.assertFalse(peer.transport.disconnecting)
        self.clock.advance(1)
        self.factory.sweep()
        code, reason = peer.goodbye()
        self.assertEqual(code, "READ_TIMEOUT")
        self.assertIn("has not ended", reason)
        self.assertTrue(peer.transport.disconnecting)

    def test_a_client_sending_whole_boxes_slowly_is_fine(self):
        peer = self.peer()
        for _ in range(5):
            self.clock.advance(50)
            tag = peer.send(Subscribe, subjects=["s"])
            self.factory.sweep()
        self.assertIn(amp.ANSWER, peer.answer(tag))
        self.assertFalse(peer.transport.disconnecting)

    def test_input_the_server_holds_back_itself_is_not_timed(self):
        config = replace(self.config, queue_size=1, slow_consumer_seconds=1000)
        self.factory.config = config
        self.factory.queue_bounds = replace(self.factory.queue_bounds, size=1, slow_consumer_seconds=1000)
        subscriber, publisher = self.peer(), self.peer()
        subscriber.answer(subscriber.send(Subscribe, subjects=["s"]))
        subscriber.protocol.queue.pauseProducing()
        for n in range(3):  # the third waits for room, and holds the rest
            self.publish(publisher, "s")
        publisher.protocol.dataReceived(b"\x00\x04_a")  # a box begun, not read
        self.clock.advance(500)
        self.factory.sweep()
        self.assertFalse(publisher.transport.disconnecting)


class SlowConsumerTests(ServerTestCase):
    config = ServerConfig(queue_size=2, slow_consumer_seconds=10, heartbeat_seconds=0)

    def test_a_stuck_subscriber_is_cut_off_and_its_publisher_goes_on(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.answer(subscriber.send(Subscribe, subjects=["s"]))
        subscriber.protocol.queue.pauseProducing()
        tags = [self.publish(publisher, "s", b"%d" % n) for n in range(3)]
        # The third went past the bound: its answer waits for room.
        self.assertEqual([box[amp.ANSWER] for box in publisher.received()], tags[:2])
        self.clock.advance(9.9)
        self.assertEqual(publisher.received(), [])
        self.clock.advance(0.1)
        self.assertEqual([box[amp.ANSWER] for box in publisher.received()], tags[2:])
        code, reason = subscriber.goodbye()
        self.assertEqual(code, "SLOW_CONSUMER")
        self.assertIn("stayed full for 10 seconds (3 events", reason)
        self.assertTrue(subscriber.transport.disconnecting)
        self.assertEqual(self.factory.stats().slow_consumers, 1)

    def test_the_disconnect_policy_cuts_off_at_the_first_overflow(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.answer(subscriber.send(Subscribe, subjects=["s"], policy="disconnect"))
        subscriber.protocol.queue.pauseProducing()
        for n in range(3):
            publisher.answer(self.publish(publisher, "s"))
        self.assertEqual(subscriber.goodbye()[0], "SLOW_CONSUMER")


class ConnectionLimitTests(ServerTestCase):
    config = ServerConfig(limits=Limits(max_connections=2))

    def test_one_connection_too_many_is_told_and_closed(self):
        first, _ = self.peer(), self.peer()
        third = self.peer()
        code, reason = third.goodbye()
        self.assertEqual(code, "MAX_CONNECTIONS")
        self.assertIn("--max-connections", reason)
        self.assertTrue(third.transport.disconnecting)
        self.assertEqual(len(self.factory.connections), 2)
        self.assertIn(amp.ANSWER, first.answer(self.publish(first, "s")))
        self.assertEqual(self.factory.counters.closed["MAX_CONNECTIONS"], 1)
        third.close()
        self.assertEqual(len(self.factory.connections), 2)

    def test_a_place_freed_is_taken_again(self):
        first, _ = self.peer(), self.peer()
        first.close()
        third = self.peer()
        self.assertFalse(third.transport.disconnecting)


class MemoryBudgetTests(ServerTestCase):
    config = ServerConfig(
        queue_size=1000, queue_bytes=1 << 20, heartbeat_seconds=0,
        limits=Limits(max_memory_bytes=50_000),
    )

    def test_the_connection_holding_the_most_is_cut_off(self):
        small, large, publisher = self.peer(), self.peer(), self.peer()
        for peer, subject in ((small, "a"), (large, "b")):
            peer.answer(peer.send(Subscribe, subjects=[subject]))
            peer.protocol.queue.pauseProducing()
        self.publish(publisher, "a", b"x" * 10_000)
        for _ in range(5):
            self.publish(publisher, "b", b"y" * 10_000)
        self.assertEqual(large.goodbye()[0], "MEMORY_BUDGET")
        self.assertFalse(small.transport.disconnecting)
        self.assertLessEqual(self.factory.budget.used, 50_000)
        self.assertEqual(len(small.protocol.queue), 1)

    def test_unfinished_input_counts(self):
        idle, hog = self.peer(), self.peer()
        box = Publish.makeArguments({"subjects": ["s"], "codec": "raw", "payload": b"x" * 30_000}, None)
        box[amp.COMMAND], box[amp.ASK] = b"publish", b"1"
        hog.protocol.dataReceived(box.serialize()[:-10])
        self.assertFalse(hog.transport.disconnecting)
        other = self.peer()
        other.protocol.dataReceived(box.serialize()[:-10])
        self.assertEqual(sum(p.transport.disconnecting for p in (hog, other)), 1)
        self.assertFalse(idle.transport.disconnecting)
        self.assertLessEqual(self.factory.budget.used, 50_000)


class GoodbyeTests(ServerTestCase):
    def test_a_client_that_will_not_read_its_goodbye_is_cut_after_the_grace(self):
        peer = self.peer()
        peer.protocol.goodbye("READ_TIMEOUT", "testing")
        aborted = []
        peer.transport.abortConnection = lambda: aborted.append(True)
        self.clock.advance(CLOSE_GRACE_SECONDS)
        self.assertEqual(aborted, [True])

    def test_a_goodbye_half_closes_and_reads_on_until_the_client_closes(self):
        """
        Closing a socket with input unread makes the kernel reset the
        connection, which can destroy the Goodbye: the server closes only
        its writing side, and reads on (discarding) until the client closes.
        """
        peer = self.peer(HalfCloseableTransport())
        peer.protocol.hold_reading()
        peer.protocol.goodbye("READ_TIMEOUT", "testing")
        self.assertTrue(peer.transport.write_closed)
        self.assertFalse(peer.transport.disconnecting)
        self.assertEqual(peer.transport.producerState, "producing")
        peer.protocol.dataReceived(b"\x00\x08_command\x00\x07publish" * 1000)
        self.assertEqual(self.factory.budget.used, 0)
        self.assertEqual(peer.goodbye(), ("READ_TIMEOUT", "testing"))

    def test_a_goodbye_code_comes_from_the_table(self):
        with self.assertRaises(ValueError):
            self.peer().protocol.goodbye("SEE_YOU", "not a code")

    def test_a_connection_is_told_goodbye_once(self):
        peer = self.peer()
        peer.protocol.goodbye("READ_TIMEOUT", "first")
        peer.protocol.goodbye("HEARTBEAT_TIMEOUT", "second")
        self.assertEqual(peer.goodbye(), ("READ_TIMEOUT", "first"))
        self.assertEqual(dict(self.factory.counters.closed), {"READ_TIMEOUT": 1})


class PolicyTests(ServerTestCase):
    config = ServerConfig(queue_size=2, when_full=WhenFull.BLOCK)

    def test_a_subscriber_may_ask_to_lose_events_rather_than_hold_publishers(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.answer(subscriber.send(Subscribe, subjects=["s"], policy="drop-oldest"))
        subscriber.protocol.queue.pauseProducing()
        for n in range(5):
            self.assertIn(amp.ANSWER, publisher.answer(self.publish(publisher, "s", b"%d" % n)))
        subscriber.protocol.queue.resumeProducing()
        events = subscriber.events()
        self.assertEqual([e.payload for e in events], [b"3", b"4"])

    def test_an_unknown_policy_is_refused_and_nothing_subscribed(self):
        peer = self.peer()
        box = peer.answer(peer.send(Subscribe, subjects=["s"], policy="sometimes"))
        self.assertError(box, b"BAD_ARGUMENTS", "no such policy 'sometimes'")
        self.assertEqual(self.broker.subscribers, [])


class DropServerPolicyTests(ServerTestCase):
    config = ServerConfig(queue_size=2, when_full=WhenFull.DROP)

    def test_a_dropping_server_refuses_a_subscriber_that_would_block(self):
        peer = self.peer()
        box = peer.answer(peer.send(Subscribe, subjects=["s"], policy="block"))
        self.assertError(box, b"BAD_ARGUMENTS", "--when-full is 'drop'")
        self.assertEqual(self.broker.subscribers, [])

    def test_deliveries_say_how_many_were_dropped_before(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.answer(subscriber.send(Subscribe, subjects=["s"]))
        subscriber.protocol.queue.pauseProducing()
        for n in range(5):
            publisher.answer(self.publish(publisher, "s", b"%d" % n))
        subscriber.protocol.queue.resumeProducing()
        self.publish(publisher, "s", b"5")
        self.clock.advance(0)
        events = [(e.payload, e.dropped_before) for e in subscriber.events()]
        self.assertEqual(events, [(b"0", 0), (b"1", 0), (b"5", 3)])


class FoundByFuzzingTests(ServerTestCase):
    """
    What benchmarks/fuzz.py found, each pinned.
    """

    config = ServerConfig(queue_size=2, heartbeat_seconds=30, slow_consumer_seconds=1000)

    def test_a_huge_unknown_command_is_answered_briefly(self):
        peer = self.peer()
        tag = peer.send_box(b"x" * 65535, amp.AmpBox())
        box = peer.answer(tag)
        self.assertEqual(box[amp.ERROR_CODE], b"UNHANDLED")
        self.assertLess(len(box[amp.ERROR_DESCRIPTION]), 200)
        self.assertFalse(peer.transport.disconnecting)

    def test_an_oversized_box_with_a_huge_command_is_answered_briefly(self):
        peer = self.peer()
        box = amp.AmpBox({b"_command": b"y" * 65535, b"_ask": b"1"})
        for n in range(30):
            box[b"p%d" % n] = b"z" * 65535
        peer.protocol.dataReceived(box.serialize())
        answer = peer.answer(b"1")
        self.assertEqual(answer[amp.ERROR_CODE], b"MESSAGE_TOO_LARGE")
        self.assertLess(len(answer[amp.ERROR_DESCRIPTION]), 200)

    def test_patterns_compiled_for_a_connection_since_closed_are_not_held(self):
        self.factory.timer = iter(range(0, 10_000, 1)).__next__  # every reading: 1 s on
        peer = self.peer()
        peer.send(SubscribeMatch, patterns=[f"p{n}" for n in range(10)])
        peer.protocol.goodbye("HEARTBEAT_TIMEOUT", "gone while compiling")
        self.clock.advance(0)
        self.assertEqual((self.broker.patterns, self.broker.subscription_count), ([], 0))

    def test_a_connection_told_goodbye_holds_no_memory_while_it_goes(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.answer(subscriber.send(Subscribe, subjects=["s"]))
        subscriber.protocol.queue.pauseProducing()
        publisher.answer(self.publish(publisher, "s", b"x" * 1000))
        self.assertGreater(self.factory.budget.used, 1000)
        subscriber.protocol.goodbye("HEARTBEAT_TIMEOUT", "testing")
        self.assertEqual(self.factory.budget.used, 0)
        publisher.answer(self.publish(publisher, "s", b"x" * 1000))
        self.assertEqual(self.factory.budget.used, 0)

    def test_a_publisher_the_server_holds_is_not_taken_for_dead(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.answer(subscriber.send(Subscribe, subjects=["s"]))
        subscriber.protocol.queue.pauseProducing()
        for n in range(3):  # the third waits for room
            self.publish(publisher, "s")
        for _ in range(2):
            self.clock.advance(30)
            self.factory.sweep()
        # The subscriber, silent and taking nothing, is let go; the
        # publisher, silent because it is held, is not.
        self.assertEqual(subscriber.goodbye()[0], "HEARTBEAT_TIMEOUT")
        self.assertFalse(publisher.transport.disconnecting)
