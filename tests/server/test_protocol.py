"""
The server's connection handling, over in-memory transports: what goes in
and out as bytes, with a controlled clock.
"""

import msgpack
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs
from twisted.protocols import amp
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from eventd.server import WhenFull
from eventd.server.config import ServerConfig
from eventd.server.protocol import BOX_OVERHEAD_BYTES
from eventd.wire.commands import (
    Deliver,
    Emit,
    Publish,
    Subscribe,
    SubscribeMatch,
    Unsubscribe,
    emit_box,
)
from eventd.wire.records import encode_emitted
from tests.server.peers import Peer, ServerTestCase


def _lost() -> Failure:
    return Failure(ConnectionDone())


class DeliveryTests(ServerTestCase):
    def test_a_published_event_reaches_an_idle_subscriber_at_once(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.answer(subscriber.send(Subscribe, subjects=["news"]))
        answer = publisher.answer(self.publish(publisher, "NEWS", b'"hi"'))
        self.assertIn(b"time", answer)
        [event] = subscriber.events()
        self.assertEqual((event.subject, event.codec, event.payload), ("NEWS", "json", b'"hi"'))
        self.assertEqual(event.time, float(answer[b"time"]))

    def test_events_of_one_turn_after_the_first_go_out_in_one_box(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.send(Subscribe, subjects=["n"])
        subscriber.received()
        for n in range(50):
            self.publish(publisher, "n", b"%d" % n)
        self.clock.advance(0)
        # The first goes out at once, the other 49 together at the turn's end.
        first, rest = subscriber.received()
        payloads = [
            e.payload for box in (first, rest) for e in Deliver.parseArguments(box, None)["events"]
        ]
        self.assertEqual(payloads, [b"%d" % n for n in range(50)])
        self.assertEqual(len(Deliver.parseArguments(rest, None)["events"]), 49)

    def test_a_publish_on_several_subjects_makes_one_event_each(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.send(SubscribeMatch, patterns=["^a"])
        subscriber.received()
        publisher.send(Publish, subjects=["a1", "a2", "b"], codec="json", payload=b"0")
        self.clock.advance(0)
        events = subscriber.events()
        self.assertEqual([e.subject for e in events], ["a1", "a2"])
        self.assertEqual(len({e.time for e in events}), 1)

    def test_unsubscribe_takes_subjects_and_patterns(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.send(Subscribe, subjects=["x"])
        subscriber.send(SubscribeMatch, patterns=["^y"])
        subscriber.answer(subscriber.send(Unsubscribe, subjects=["X", "^y"]))
        self.publish(publisher, "x")
        self.publish(publisher, "yes")
        self.clock.advance(0)
        self.assertEqual(subscriber.events(), [])

    def test_a_closed_connection_leaves_nothing_behind(self):
        subscriber = self.peer()
        subscriber.send(Subscribe, subjects=["x"])
        subscriber.protocol.connectionLost(_lost())
        self.assertEqual(self.broker.subscribers, [])
        self.assertEqual(self.factory.connections, set())


class BadInputTests(ServerTestCase):
    config = ServerConfig(max_message_bytes=1000)

    def test_an_unknown_command_is_refused_and_the_connection_kept(self):
        peer = self.peer()
        box = peer.answer(peer.send_box(b"launch", amp.AmpBox()))
        self.assertError(box, amp.UNHANDLED_ERROR_CODE, "launch")
        self.assertIn(b"_answer", peer.answer(self.publish(peer, "still")))

    def test_arguments_of_the_wrong_type_are_refused_by_name(self):
        peer = self.peer()
        box = amp.AmpBox(subjects=b"\x00\x01a", codec=b"\xff", payload=b"1")
        self.assertError(
            peer.answer(peer.send_box(b"publish", box)), b"BAD_ARGUMENTS", "publish"
        )
        self.assertIn(b"_answer", peer.answer(self.publish(peer, "still")))

    def test_a_missing_argument_is_refused(self):
        peer = self.peer()
        box = amp.AmpBox(codec=b"json", payload=b"1")
        self.assertError(
            peer.answer(peer.send_box(b"publish", box)), b"BAD_ARGUMENTS", "subjects"
        )

    def test_a_subject_that_is_not_utf8_is_refused(self):
        peer = self.peer()
        box = amp.AmpBox(subjects=b"\x00\x02\xff\xfe")
        self.assertError(peer.answer(peer.send_box(b"subscribe", box)), b"BAD_ARGUMENTS")

    def test_empty_subjects_are_refused(self):
        peer = self.peer()
        self.assertError(peer.answer(self.publish(peer, "")), b"BAD_SUBJECT", "empty")
        box = peer.answer(peer.send(Publish, subjects=[], codec="json", payload=b"1"))
        self.assertError(box, b"BAD_SUBJECT", "at least one")
        self.assertError(peer.answer(peer.send(Subscribe, subjects=[""])), b"BAD_SUBJECT")

    def test_an_invalid_pattern_is_named_and_changes_nothing(self):
        peer = self.peer()
        box = peer.answer(peer.send(SubscribeMatch, patterns=["^ok", "(?=no)"]))
        self.assertError(box, b"BAD_PATTERN", "(?=no)")
        self.assertEqual(self.broker.patterns, [])

    def test_a_message_over_the_limit_is_refused_with_the_limit(self):
        peer = self.peer()
        box = peer.answer(self.publish(peer, "big", b"x" * 1001))
        self.assertError(box, b"MESSAGE_TOO_LARGE", "1001 bytes", "1000 bytes")

    def test_a_box_over_the_limit_is_refused_as_a_whole(self):
        peer = self.peer()
        payload = b"x" * (BOX_OVERHEAD_BYTES + 300_000)
        box = peer.answer(self.publish(peer, "huge", payload))
        # Refused by the box bound, before any command ran: a refusal of the
        # payload by Publish itself would name the payload's size instead.
        self.assertError(box, b"MESSAGE_TOO_LARGE", "the publish is bigger than", "1000 bytes")
        self.assertIn(b"_answer", peer.answer(self.publish(peer, "small")))

    def test_a_huge_box_is_not_held_in_memory_while_it_arrives(self):
        peer = self.peer()
        box = Publish.makeArguments(
            {"subjects": ["huge"], "codec": "raw", "payload": b"x" * 2_000_000}, None
        )
        box[amp.COMMAND], box[amp.ASK] = b"publish", b"1"
        data = box.serialize()
        for start in range(0, len(data) - 10, 65536):
            peer.protocol.dataReceived(data[start : min(start + 65536, len(data) - 10)])
            self.assertLess(
                peer.protocol.held_bytes, self.config.max_message_bytes + BOX_OVERHEAD_BYTES
            )
        peer.protocol.dataReceived(data[len(data) - 10 :])
        self.assertError(peer.answer(b"1"), b"MESSAGE_TOO_LARGE")
        self.assertEqual(peer.protocol.held_bytes, 0)

    def test_a_box_of_many_tiny_keys_counts_what_they_cost(self):
        peer = self.peer()
        box = amp.AmpBox({b"k%06d" % n: b"" for n in range(10_000)})
        box[amp.COMMAND], box[amp.ASK] = b"subscribe", b"1"
        # 70 kB of keys, well under the byte limit, but 10,000 entries cost
        # Python far more: the box counts as oversized.
        peer.protocol.dataReceived(box.serialize())
        self.assertError(peer.answer(b"1"), b"MESSAGE_TOO_LARGE", "the subscribe")

    def test_a_key_over_255_bytes_closes_only_that_connection(self):
        rogue, other = self.peer(), self.peer()
        rogue.protocol.dataReceived(b"\x01\x00" + b"k" * 256)
        self.assertTrue(rogue.transport.disconnecting)
        code, reason = rogue.goodbye()
        self.assertEqual(code, "PROTOCOL_ERROR")
        self.assertIn("256", reason)
        self.assertFalse(other.transport.disconnecting)
        self.assertIn(b"_answer", other.answer(self.publish(other, "fine")))


class BlockModeTests(ServerTestCase):
    config = ServerConfig(queue_size=2, when_full=WhenFull.BLOCK)

    def setUp(self):
        super().setUp()
        self.subscriber, self.publisher = self.peer(), self.peer()
        self.subscriber.send(Subscribe, subjects=["s"])
        self.subscriber.received()
        # The subscriber's socket is full: the transport pauses the queue.
        self.subscriber.protocol.queue.pauseProducing()

    def test_a_full_queue_holds_the_answer_and_the_publisher(self):
        tags = [self.publish(self.publisher, "s", b"%d" % n) for n in range(3)]
        received = self.publisher.received()
        self.assertEqual([b[amp.ANSWER] for b in received], tags[:2])
        self.assertEqual(self.publisher.transport.producerState, "paused")
        self.subscriber.protocol.queue.resumeProducing()
        self.assertEqual(self.publisher.answer(tags[2])[amp.ANSWER], tags[2])
        self.clock.advance(0)
        self.assertEqual(self.publisher.transport.producerState, "producing")
        self.assertEqual([e.payload for e in self.subscriber.events()], [b"0", b"1", b"2"])

    def test_ten_thousand_pipelined_publishes_all_arrive_in_order(self):
        boxes = []
        for n in range(10_000):
            box = Publish.makeArguments(
                {"subjects": ["s"], "codec": "json", "payload": b"%d" % n}, None
            )
            box[amp.COMMAND], box[amp.ASK] = b"publish", b"%d" % n
            boxes.append(box.serialize())
        self.publisher.protocol.dataReceived(b"".join(boxes))
        payloads = []
        queue = self.subscriber.protocol.queue
        for _ in range(10_000):
            queue.resumeProducing()
            self.clock.advance(0)
            payloads += [e.payload for e in self.subscriber.events()]
            if len(payloads) == 10_000:
                break
            queue.pauseProducing()
        self.assertEqual(payloads, [b"%d" % n for n in range(10_000)])
        answers = [b[amp.ANSWER] for b in self.publisher.received()]
        self.assertEqual(answers, [b"%d" % n for n in range(10_000)])

    def test_others_go_on_while_one_publisher_waits(self):
        for _ in range(3):
            self.publish(self.publisher, "s")
        self.assertEqual(self.publisher.transport.producerState, "paused")
        bystander, listener = self.peer(), self.peer()
        listener.send(Subscribe, subjects=["other"])
        listener.received()
        tag = self.publish(bystander, "other", b"7")
        self.assertIn(amp.ANSWER, bystander.answer(tag))
        self.assertEqual(bystander.transport.producerState, "producing")
        self.clock.advance(0)
        self.assertEqual([e.payload for e in listener.events()], [b"7"])

    def test_a_subscriber_that_goes_away_releases_the_publisher(self):
        tags = [self.publish(self.publisher, "s") for _ in range(3)]
        self.publisher.received()
        self.subscriber.protocol.connectionLost(_lost())
        self.assertEqual(self.publisher.answer(tags[2])[amp.ANSWER], tags[2])
        self.clock.advance(0)
        self.assertEqual(self.publisher.transport.producerState, "producing")

    def test_a_peer_that_does_not_read_is_not_read_either(self):
        """
        While the publisher's own socket is full, its commands wait: their
        answers would otherwise pile up in our memory.
        """
        self.publisher.protocol.queue.pauseProducing()
        self.assertEqual(self.publisher.transport.producerState, "paused")
        self.publisher.protocol.queue.resumeProducing()
        self.assertEqual(self.publisher.transport.producerState, "producing")

    def test_a_transport_pausing_twice_and_resuming_once_is_read_again(self):
        """
        Twisted's transports pause their producer on every write while
        their buffer is full, and resume it once.  Counting each pause as a
        hold left such a connection unread for good, so that it was never
        seen to close (found by benchmarks/fuzz.py --seed 2).
        """
        queue = self.publisher.protocol.queue
        queue.pauseProducing()
        queue.pauseProducing()
        queue.resumeProducing()
        self.assertEqual(self.publisher.transport.producerState, "producing")
        tag = self.publish(self.publisher, "elsewhere")
        self.assertIn(amp.ANSWER, self.publisher.answer(tag))


class DropModeTests(ServerTestCase):
    config = ServerConfig(queue_size=10, when_full=WhenFull.DROP)

    def test_a_stalled_subscriber_loses_events_and_nobody_else_does(self):
        stalled, reader, publisher = self.peer(), self.peer(), self.peer()
        for peer in (stalled, reader):
            peer.answer(peer.send(Subscribe, subjects=["s"]))
        stalled.protocol.queue.pauseProducing()  # its socket takes nothing
        for n in range(100):
            self.assertIn(b"_answer", publisher.answer(self.publish(publisher, "s", b"%d" % n)))
            self.clock.advance(0)
        everything = [b"%d" % n for n in range(100)]
        self.assertEqual([e.payload for e in reader.events()], everything)
        self.assertEqual(reader.protocol.queue.dropped, 0)
        self.assertEqual(stalled.protocol.queue.dropped, 90)
        stalled.protocol.queue.resumeProducing()
        self.assertEqual([e.payload for e in stalled.events()], everything[:10])


class EmitTests(ServerTestCase):
    config = ServerConfig(queue_size=2)

    def emit(self, peer: Peer, *records: bytes) -> None:
        peer.protocol.dataReceived(emit_box(list(records)))

    def test_emitted_publishes_reach_subscribers_with_one_time(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.send(Subscribe, subjects=["a", "b"])
        subscriber.received()
        self.emit(
            publisher,
            encode_emitted(["a"], "json", b"1"),
            encode_emitted(["b", "a"], "json", b"2"),
        )
        self.assertEqual(publisher.received(), [])
        self.clock.advance(0)
        events = subscriber.events()
        self.assertEqual(
            [(e.subject, e.payload) for e in events], [("a", b"1"), ("b", b"2"), ("a", b"2")]
        )
        self.assertEqual(len({e.time for e in events}), 1)

    def test_a_refused_emit_is_logged_and_the_rest_go_on(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.send(Subscribe, subjects=["ok"])
        subscriber.received()
        with capturedLogs() as logged:
            self.emit(
                publisher,
                encode_emitted([""], "json", b"1"),
                b"\x93\x01\x02\x03",  # not (subjects, codec, payload)
                encode_emitted(["ok"], "json", b"2"),
            )
        self.clock.advance(0)
        self.assertEqual([e.payload for e in subscriber.events()], [b"2"])
        [warning] = [e for e in logged if "refused a request" in e.get("log_format", "")]
        self.assertEqual(warning["refused"], 1)
        self.assertEqual(publisher.protocol.responders.refused, 2)
        self.assertFalse(publisher.transport.disconnecting)

    def test_emitting_past_a_full_queue_holds_the_publisher(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.send(Subscribe, subjects=["s"])
        subscriber.received()
        subscriber.protocol.queue.pauseProducing()
        self.emit(publisher, *[encode_emitted(["s"], "json", b"%d" % n) for n in range(3)])
        self.assertEqual(publisher.transport.producerState, "paused")
        subscriber.protocol.queue.resumeProducing()
        self.clock.advance(0)
        self.assertEqual(publisher.transport.producerState, "producing")
        self.assertEqual([e.payload for e in subscriber.events()], [b"0", b"1", b"2"])

    def test_one_box_does_not_push_all_its_records_past_a_full_queue(self):
        """
        Block mode: once a record goes past a full queue, the rest of the
        box waits for room, so the queue holds at most its size and one
        record's events, however many records the box carries.
        """
        subscriber, publisher = self.peer(), self.peer()
        subscriber.send(Subscribe, subjects=["s"])
        subscriber.received()
        subscriber.protocol.queue.pauseProducing()
        records = [encode_emitted(["s"], "json", b"%d" % n) for n in range(50)]
        self.emit(publisher, *records)
        self.assertEqual(len(subscriber.protocol.queue), self.config.queue_size + 1)
        for _ in range(25):
            subscriber.protocol.queue.resumeProducing()
            subscriber.protocol.queue.pauseProducing()
            self.assertLessEqual(len(subscriber.protocol.queue), self.config.queue_size + 1)
        subscriber.protocol.queue.resumeProducing()
        self.clock.advance(0)
        self.assertEqual([e.payload for e in subscriber.events()], [b"%d" % n for n in range(50)])
        self.assertEqual(publisher.transport.producerState, "producing")

    def assertRefused(self, *records: bytes, reason: str) -> None:
        """
        Emitting these records publishes none of them, and logs a refusal
        giving C{reason}.
        """
        subscriber, publisher = self.peer(), self.peer()
        subscriber.send_box(b"subscribe_match", amp.AmpBox(patterns=b"\x00\x02.*"))
        subscriber.received()
        with capturedLogs() as logged:
            self.emit(publisher, *records)
        self.clock.advance(0)
        self.assertEqual(subscriber.events(), [])
        self.assertEqual(publisher.protocol.responders.refused, len(records))
        [warning] = [e for e in logged if "refused a request" in e.get("log_format", "")]
        self.assertIn(reason, str(warning["reason"]))
        self.assertEqual(warning["code"], "BAD_ARGUMENTS")

    def test_subjects_given_as_one_string_are_refused(self):
        self.assertRefused(encode_emitted("news", "json", b"1"), reason="array of strings")

    def test_a_payload_that_is_not_binary_is_refused(self):
        record = msgpack.packb((["news"], "json", "a str, not bin"))
        self.assertRefused(record, reason="MessagePack bin")

    def test_a_codec_that_is_not_a_string_is_refused(self):
        self.assertRefused(msgpack.packb((["news"], 7, b"1")), reason="codec")

    def test_records_that_are_not_messagepack_are_refused_together(self):
        self.assertRefused(b"\xc1", reason="not MessagePack")

    def test_an_emit_that_asks_is_answered_once_handled(self):
        publisher = self.peer()
        tag = publisher.send(Emit, publishes=[(["a"], "json", b"1")])
        self.assertEqual(publisher.answer(tag), amp.AmpBox({amp.ANSWER: tag}))

    def test_an_emit_that_asks_with_bad_records_gets_bad_arguments(self):
        publisher = self.peer()
        tag = publisher.send_box(b"emit", amp.AmpBox(publishes=b"\xc1"))
        self.assertError(publisher.answer(tag), b"BAD_ARGUMENTS", "not MessagePack")

    def test_an_emit_over_the_box_limit_is_refused_whole(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.send(Subscribe, subjects=["s"])
        subscriber.received()
        big = b"x" * 60_000
        records = [encode_emitted(["s"], "raw", big) for _ in range(40)]
        with capturedLogs() as logged:
            self.emit(publisher, *records)
            self.clock.advance(0)
        self.assertEqual(subscriber.events(), [])
        [warning] = [e for e in logged if "refused a request" in e.get("log_format", "")]
        self.assertEqual(warning["code"], "MESSAGE_TOO_LARGE")
        self.assertIn("the emit is bigger than the limit", str(warning["reason"]))
        self.assertFalse(publisher.transport.disconnecting)


class OneWayTests(ServerTestCase):
    """
    Requests sent without C{_ask}: nobody waits for an answer, so a refusal
    is counted and logged, and the connection stays open.
    """

    def send_one_way(self, peer: Peer, name: bytes, box: amp.AmpBox) -> None:
        box[amp.COMMAND] = name
        peer.protocol.dataReceived(box.serialize())

    def test_refusals_are_counted_and_the_connection_kept(self):
        peer = self.peer()
        with capturedLogs() as logged:
            self.send_one_way(peer, b"no_such_command", amp.AmpBox())
            self.send_one_way(peer, b"subscribe", amp.AmpBox(subjects=b"\x00\x00"))
            self.send_one_way(peer, b"publish", amp.AmpBox(subjects=b"", codec=b"", payload=b""))
            self.send_one_way(peer, b"subscribe", amp.AmpBox())
        self.assertEqual(peer.protocol.responders.refused, 4)
        self.assertEqual(peer.received(), [])
        self.assertFalse(peer.transport.disconnecting)
        codes = [e["code"] for e in logged if "refused a request" in e.get("log_format", "")]
        self.assertEqual(codes, ["UNHANDLED"])  # then quiet, for the rest of the interval
        self.assertIn(b"_answer", peer.answer(self.publish(peer, "still-open")))


class AMPConnectionMethodsTests(SynchronousTestCase):
    def test_amps_own_connection_methods_only_log(self):
        """
        EventServerProtocol calls BinaryBoxProtocol's makeConnection and
        connectionLost, not AMP's, which only log besides (and keep the
        addresses they log): if a Twisted release makes them do more, the
        server would miss it, and this fails.
        """
        ours, theirs = amp.AMP(), amp.AMP()
        amp.BinaryBoxProtocol.makeConnection(ours, StringTransport())
        theirs.makeConnection(StringTransport())
        logged = {"_transportPeer", "_transportHost"}
        self.assertEqual(set(vars(theirs)) ^ set(vars(ours)), logged)
        amp.BinaryBoxProtocol.connectionLost(ours, _lost())
        ours.transport = None
        theirs.connectionLost(_lost())
        self.assertEqual(set(vars(theirs)) ^ set(vars(ours)), logged)
