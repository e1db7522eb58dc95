"""
Sharing the reactor: a connection with much to do does it over several
turns, and the others are served in between.  In memory; the time shares
are measured with is moved by the tests (each reading of it takes a
millisecond), and the reactor's later turns are a C{clock.advance(0)}
(which runs the calls later calls schedule too: it is the first turn that
shows the sharing).
"""

from twisted.protocols import amp

from eventd.server.config import Limits, ServerConfig
from eventd.server.protocol import SHARE_SECONDS
from eventd.wire.commands import Emit, Publish, Subscribe, SubscribeMatch
from tests.server.peers import Peer, ServerTestCase

TICK = 0.001
"""What each reading of the share timer costs, in these tests."""


class FairnessTestCase(ServerTestCase):
    config = ServerConfig(heartbeat_seconds=0, limits=Limits(max_call_names=5000))

    def setUp(self):
        super().setUp()
        self.factory.timer = self.tick

    def tick(self) -> float:
        self.now += TICK
        return self.now

    def answered(self, peer: Peer) -> list[bytes]:
        return [box[amp.ANSWER] for box in peer.received() if amp.ANSWER in box]

    def turns(self, until, most: int = 100) -> None:
        """Turn the reactor until C{until()}."""
        for _ in range(most):
            if until():
                return
            self.clock.advance(0)
        raise AssertionError(f"not done after {most} turns")


class PipelinedRequestsTests(FairnessTestCase):
    def test_a_flood_of_requests_is_handled_over_several_turns(self):
        flood = self.peer()
        boxes = []
        for n in range(200):
            box = Subscribe.makeArguments({"subjects": [f"s{n}"]}, None)
            box[amp.COMMAND], box[amp.ASK] = b"subscribe", b"%d" % n
            boxes.append(box.serialize())
        flood.protocol.dataReceived(b"".join(boxes))
        first_turn = self.answered(flood)
        self.assertLess(len(first_turn), 200)
        self.assertLessEqual(len(first_turn), SHARE_SECONDS / TICK + 1)

        other = self.peer()
        tag = other.send(Subscribe, subjects=["mine"])
        self.assertIn(amp.ANSWER, other.answer(tag))

        answered = list(first_turn)
        self.turns(lambda: len(answered.extend(self.answered(flood)) or answered) == 200)
        self.assertEqual(answered, [b"%d" % n for n in range(200)])


class LongRequestsTests(FairnessTestCase):
    def test_a_publish_to_many_subjects_goes_out_over_several_turns(self):
        subscriber, publisher, other = self.peer(), self.peer(), self.peer()
        subjects = [f"s{n}" for n in range(50)]
        subscriber.answer(subscriber.send(Subscribe, subjects=subjects))
        tag = publisher.send(Publish, subjects=subjects, codec="raw", payload=b"x")
        self.assertEqual(self.answered(publisher), [])
        other_tag = other.send(Subscribe, subjects=["meanwhile"])
        self.assertIn(amp.ANSWER, other.answer(other_tag))
        answers = []
        self.turns(lambda: answers.extend(self.answered(publisher)) or answers)
        self.assertEqual(answers, [tag])
        self.assertEqual([e.subject for e in subscriber.events()], subjects)

    def test_an_emit_of_many_records_goes_out_over_several_turns(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.answer(subscriber.send(Subscribe, subjects=["s"]))
        records = [(["s"], "raw", b"%d" % n) for n in range(100)]
        tag = publisher.send(Emit, publishes=records)
        events = subscriber.events()
        self.assertLess(len(events), 100)
        answers = []
        self.turns(lambda: answers.extend(self.answered(publisher)) or answers)
        events += subscriber.events()
        self.assertEqual([e.payload for e in events], [b"%d" % n for n in range(100)])
        self.assertEqual(answers, [tag])

    def test_patterns_are_compiled_over_several_turns_and_added_at_once(self):
        subscriber, other = self.peer(), self.peer()
        patterns = [f"p{n}\\." for n in range(30)]
        tag = subscriber.send(SubscribeMatch, patterns=patterns)
        self.assertEqual(self.answered(subscriber), [])
        self.assertEqual(self.broker.patterns, [])  # none before all are compiled
        self.assertIn(amp.ANSWER, other.answer(other.send(Subscribe, subjects=["x"])))
        answers = []
        self.turns(lambda: answers.extend(self.answered(subscriber)) or answers)
        self.assertEqual(answers, [tag])
        self.assertEqual(sorted(self.broker.patterns), sorted(patterns))

    def test_a_bad_pattern_late_in_a_long_call_adds_none(self):
        subscriber = self.peer()
        patterns = [f"p{n}" for n in range(20)] + ["(?=no)"]
        tag = subscriber.send(SubscribeMatch, patterns=patterns)
        boxes = []
        self.turns(lambda: boxes.extend(subscriber.received()) or boxes)
        [box] = boxes
        self.assertEqual((box[amp.ERROR], box[amp.ERROR_CODE]), (tag, b"BAD_PATTERN"))
        self.assertEqual(self.broker.patterns, [])
