"""
The responders' limits on one request, as a client sees them: each is
refused with LIMIT_EXCEEDED naming its option, counted by code, and changes
nothing.
"""

from twisted.protocols import amp

from eventd.server.config import Limits, ServerConfig
from eventd.wire.commands import Emit, Publish, Subscribe, SubscribeMatch, Unsubscribe
from tests.server.peers import ServerTestCase


class LimitTests(ServerTestCase):
    config = ServerConfig(
        limits=Limits(
            max_publish_subjects=3,
            max_publish_bytes=1000,
            max_emit_records=4,
            max_call_names=2,
        )
    )

    def setUp(self):
        super().setUp()
        self.subscriber, self.peer_ = self.peer(), self.peer()
        self.subscriber.answer(self.subscriber.send(SubscribeMatch, patterns=[".*"]))

    def refused(self, tag: bytes, *words: str) -> None:
        self.assertError(self.peer_.answer(tag), b"LIMIT_EXCEEDED", *words)
        self.clock.advance(0)
        self.assertEqual(self.subscriber.events(), [])

    def test_a_publish_naming_too_many_subjects(self):
        tag = self.peer_.send(Publish, subjects=["a", "b", "c", "d"], codec="raw", payload=b"")
        self.refused(tag, "at most 3 subjects", "names 4", "--max-publish-subjects")

    def test_a_publish_making_too_many_bytes(self):
        tag = self.peer_.send(Publish, subjects=["a", "b"], codec="raw", payload=b"x" * 480)
        self.refused(tag, "at most 1000 bytes of events", "--max-publish-bytes")

    def test_an_emit_carrying_too_many_publishes_is_refused_whole(self):
        records = [(["a"], "raw", b"%d" % n) for n in range(5)]
        tag = self.peer_.send(Emit, publishes=records)
        self.refused(tag, "at most 4 publishes", "carries 5", "--max-emit-records")

    def test_calls_naming_too_many(self):
        for command, argument in (
            (Subscribe, "subjects"),
            (SubscribeMatch, "patterns"),
            (Unsubscribe, "subjects"),
        ):
            tag = self.peer_.send(command, **{argument: ["a", "b", "c"]})
            self.refused(tag, "at most 2", "--max-call-names")
        self.assertEqual(self.broker.subscriptions_of(self.peer_.protocol.queue), (set(), set()))

    def test_refusals_are_counted_by_code(self):
        self.peer_.send(Publish, subjects=["a", "b", "c", "d"], codec="raw", payload=b"")
        self.peer_.send(Publish, subjects=[""], codec="raw", payload=b"")
        box = amp.AmpBox(_command=b"publish", subjects=b"", codec=b"", payload=b"")
        self.peer_.protocol.dataReceived(box.serialize())  # no _ask: refused unanswered
        self.assertEqual(
            self.factory.stats().refused, {"BAD_SUBJECT": 2, "LIMIT_EXCEEDED": 1}
        )
