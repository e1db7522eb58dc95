"""
Tests for L{eventd.server.queues.DeliveryQueue}, with a fake clock and sink.
"""

from typing import Optional, Sequence

from twisted.internet.task import Clock
from twisted.logger import LogLevel, capturedLogs, formatEvent
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from eventd.server.config import WhenFull
from eventd.server.interfaces import IDeliverySink
from eventd.server.memory import MemoryBudget
from eventd.server.queues import (
    BATCH_BYTES,
    FULL_REPORT_SECONDS,
    DeliveryQueue,
    QueueBounds,
)


@implementer(IDeliverySink)
class RecordingSink:
    """
    Records every batch written, and counts pauses and resumes.
    """

    def __init__(self) -> None:
        self.batches: list[list[bytes]] = []
        self.gaps: list[Optional[dict[int, int]]] = []
        self.paused = 0
        self.resumed = 0
        self.gave_up: list[str] = []

    @property
    def written(self) -> list[bytes]:
        return [item for batch in self.batches for item in batch]

    @property
    def dropped_before(self) -> dict[bytes, int]:
        """How many were dropped before each event written, where any were."""
        found = {}
        for batch, gaps in zip(self.batches, self.gaps):
            for index, count in (gaps or {}).items():
                found[batch[index]] = count
        return found

    def write_events(self, items: Sequence[bytes], gaps: Optional[dict[int, int]]) -> None:
        self.batches.append(list(items))
        self.gaps.append(gaps)

    def sending_paused(self) -> None:
        self.paused += 1

    def sending_resumed(self) -> None:
        self.resumed += 1

    def slow_consumer(self, reason: str) -> None:
        self.gave_up.append(reason)


class QueueTestCase(SynchronousTestCase):
    """
    A clock, a recording sink, and ways to make queues in known states.
    """

    def setUp(self) -> None:
        self.clock = Clock()
        self.sink = RecordingSink()
        self.budget = MemoryBudget(1 << 30)

    def make_queue(
        self,
        size: int = 100,
        when_full: WhenFull = WhenFull.BLOCK,
        max_bytes: int = 1 << 20,
        slow_consumer_seconds: float = 10.0,
    ) -> DeliveryQueue:
        bounds = QueueBounds(size, max_bytes, when_full, slow_consumer_seconds)
        return DeliveryQueue(self.sink, self.clock, bounds, self.budget, peer="peer-7")

    def offer_all(self, queue: DeliveryQueue, items: Sequence[bytes]) -> list[bool]:
        return [queue.offer(item) for item in items]

    def busy_queue(self, size: int = 100, when_full: WhenFull = WhenFull.BLOCK) -> DeliveryQueue:
        """
        A queue that already wrote the first event of this reactor turn,
        C{b"e0"}, at once: what is offered next in the turn waits for its
        end.
        """
        queue = self.make_queue(size, when_full)
        queue.offer(b"e0")
        return queue

    def full_queue(self, when_full: WhenFull, paused: bool = False) -> DeliveryQueue:
        """
        A queue of size 2 already holding two events, not yet written (a
        busy turn's, or a paused queue's); if C{paused}, it stays full
        however the clock turns.
        """
        if paused:
            queue = self.make_queue(size=2, when_full=when_full)
            queue.pauseProducing()
        else:
            queue = self.busy_queue(size=2, when_full=when_full)
        self.offer_all(queue, [b"e1", b"e2"])
        return queue

    def drop_warnings(self, queue: DeliveryQueue, item: bytes) -> list[dict]:
        with capturedLogs() as events:
            queue.offer(item)
        return [event for event in events if event["log_level"] is LogLevel.warn]



class DeliveryQueueTests(QueueTestCase):
    def test_sink_provides_the_interface(self) -> None:
        self.assertTrue(verifyObject(IDeliverySink, self.sink))

    def test_the_first_event_of_a_turn_goes_out_at_once(self) -> None:
        self.offer_all(self.make_queue(), [b"a"])
        self.assertEqual(self.sink.batches, [[b"a"]])

    def test_the_rest_of_a_turn_waits_for_its_end(self) -> None:
        self.offer_all(self.make_queue(), [b"a", b"b"])
        self.assertEqual(self.sink.batches, [[b"a"]])

    def test_events_offered_after_the_first_go_out_as_one_batch_in_order(self) -> None:
        self.offer_all(self.make_queue(), [b"a", b"b", b"c", b"d"])
        self.clock.advance(0)
        self.assertEqual(self.sink.batches, [[b"a"], [b"b", b"c", b"d"]])

    def test_events_offered_in_later_turns_go_out_as_later_batches(self) -> None:
        queue = self.make_queue()
        queue.offer(b"a")
        self.clock.advance(0)
        queue.offer(b"b")
        self.clock.advance(0)
        self.assertEqual(self.sink.batches, [[b"a"], [b"b"]])

    def test_batches_are_split_at_about_batch_bytes(self) -> None:
        item = b"x" * (BATCH_BYTES // 4)
        self.offer_all(self.busy_queue(), [item] * 6)
        self.clock.advance(0)
        self.assertEqual([len(batch) for batch in self.sink.batches], [1, 4, 2])

    def test_event_bigger_than_batch_bytes_goes_out_alone(self) -> None:
        big = b"x" * (BATCH_BYTES + 1)
        self.offer_all(self.make_queue(), [b"a", big, b"b"])
        self.clock.advance(0)
        self.assertEqual(self.sink.batches, [[b"a"], [big], [b"b"]])

    def test_nothing_is_written_while_paused(self) -> None:
        queue = self.make_queue()
        queue.pauseProducing()
        self.offer_all(queue, [b"a", b"b"])
        self.clock.advance(0)
        self.assertEqual((self.sink.batches, len(queue)), ([], 2))

    def test_pause_and_resume_are_passed_to_the_sink(self) -> None:
        queue = self.make_queue()
        queue.pauseProducing()
        queue.resumeProducing()
        self.assertEqual((self.sink.paused, self.sink.resumed), (1, 1))

    def test_the_sink_hears_of_each_change_once(self) -> None:
        """
        A transport pauses its producer on every write while its buffer is
        full, and may resume one it never paused.
        """
        queue = self.make_queue()
        queue.resumeProducing()
        queue.pauseProducing()
        queue.pauseProducing()
        queue.resumeProducing()
        self.assertEqual((self.sink.paused, self.sink.resumed), (1, 1))

    def test_resume_writes_what_queued_while_paused(self) -> None:
        queue = self.make_queue()
        queue.pauseProducing()
        self.offer_all(queue, [b"a", b"b"])
        queue.resumeProducing()
        self.assertEqual((self.sink.written, len(queue)), ([b"a", b"b"], 0))

    def test_block_mode_queues_the_event_and_says_it_is_past_the_bound(
        self,
    ) -> None:
        queue = self.full_queue(WhenFull.BLOCK)
        self.assertTrue(queue.offer(b"e3"))
        self.assertNoResult(queue.when_room())
        self.assertEqual(len(queue), 3)

    def test_offers_within_the_bound_say_so(self) -> None:
        queue = self.busy_queue(size=2)
        self.assertEqual(self.offer_all(queue, [b"a"]), [False])
        self.successResultOf(queue.when_room())
        self.assertEqual(self.offer_all(queue, [b"b"]), [False])
        self.assertNoResult(queue.when_room())

    def test_block_mode_room_comes_once_the_queue_drains(self) -> None:
        queue = self.full_queue(WhenFull.BLOCK)
        self.assertTrue(queue.offer(b"e3"))
        waiter = queue.when_room()
        self.clock.advance(0)
        self.assertIsNone(self.successResultOf(waiter))
        self.assertEqual(self.sink.written, [b"e0", b"e1", b"e2", b"e3"])

    def test_block_mode_room_waits_while_paused(self) -> None:
        queue = self.full_queue(WhenFull.BLOCK, paused=True)
        queue.offer(b"e3")
        waiter = queue.when_room()
        self.clock.advance(0)
        self.assertNoResult(waiter)
        queue.resumeProducing()
        self.successResultOf(waiter)

    def test_drop_mode_never_asks_to_wait_and_never_writes_the_event(self) -> None:
        queue = self.full_queue(WhenFull.DROP)
        self.assertFalse(queue.offer(b"e3"))
        self.clock.advance(0)
        self.assertEqual(self.sink.written, [b"e0", b"e1", b"e2"])

    def test_drop_mode_counts_dropped_events(self) -> None:
        queue = self.full_queue(WhenFull.DROP)
        self.offer_all(queue, [b"e3", b"e4"])
        self.assertEqual(queue.dropped, 2)

    def test_drop_logs_a_warning_naming_the_peer(self) -> None:
        [warning] = self.drop_warnings(self.full_queue(WhenFull.DROP), b"e3")
        self.assertIn("peer-7", formatEvent(warning))

    def test_second_drop_soon_after_logs_nothing(self) -> None:
        queue = self.full_queue(WhenFull.DROP, paused=True)
        queue.offer(b"e3")
        self.clock.advance(FULL_REPORT_SECONDS - 1)
        self.assertEqual(self.drop_warnings(queue, b"e4"), [])

    def test_drop_after_report_interval_logs_again_counting_unreported(
        self,
    ) -> None:
        queue = self.full_queue(WhenFull.DROP, paused=True)
        self.offer_all(queue, [b"e3", b"e4"])
        self.clock.advance(FULL_REPORT_SECONDS + 1)
        [warning] = self.drop_warnings(queue, b"e5")
        self.assertEqual((warning["new"], warning["dropped"]), (2, 3))

    def test_high_water_is_the_most_events_ever_held(self) -> None:
        queue = self.busy_queue()
        self.offer_all(queue, [b"a", b"b", b"c"])
        self.clock.advance(0)
        queue.offer(b"d")
        self.assertEqual(queue.high_water, 3)

    def test_delivered_counts_events_written(self) -> None:
        queue = self.busy_queue()
        self.offer_all(queue, [b"a", b"b", b"c"])
        self.clock.advance(0)
        queue.pauseProducing()
        queue.offer(b"d")
        self.assertEqual(queue.delivered, 4)

    def test_stop_producing_clears_the_queue(self) -> None:
        queue = self.busy_queue()
        self.offer_all(queue, [b"a", b"b"])
        queue.stopProducing()
        self.clock.advance(0)
        self.assertEqual((len(queue), self.sink.batches), (0, [[b"e0"]]))

    def test_stop_producing_releases_every_waiting_publisher(self) -> None:
        queue = self.full_queue(WhenFull.BLOCK, paused=True)
        self.offer_all(queue, [b"e3", b"e4"])
        waiters = [queue.when_room(), queue.when_room()]
        queue.stopProducing()
        for waiter in waiters:
            self.successResultOf(waiter)

    def test_offers_after_stop_producing_are_ignored(self) -> None:
        queue = self.make_queue()
        queue.stopProducing()
        self.assertFalse(queue.offer(b"a"))
        self.clock.advance(0)
        self.assertEqual((len(queue), self.sink.batches), (0, []))

    def test_released_publisher_offering_again_keeps_order(self) -> None:
        """
        A waiter's callback offers into the queue that is releasing it, as a
        released publisher does; the event follows those already written.
        """
        queue = self.make_queue(size=1)
        self.offer_all(queue, [b"a", b"b", b"c"])
        first, second = queue.when_room(), queue.when_room()
        first.addCallback(lambda _: queue.offer(b"d"))
        self.clock.advance(0)
        self.clock.advance(0)
        self.assertEqual(self.sink.written, [b"a", b"b", b"c", b"d"])
        self.assertFalse(self.successResultOf(first))
        self.successResultOf(second)


class WhenEmptyAndWarningTests(QueueTestCase):
    """
    What a stopping server and an operator learn from a queue.
    """

    def test_an_empty_queue_is_empty_at_once(self) -> None:
        self.successResultOf(self.make_queue().when_empty())

    def test_when_empty_fires_once_everything_is_written(self) -> None:
        queue = self.full_queue(WhenFull.BLOCK, paused=True)
        empty = queue.when_empty()
        self.assertNoResult(empty)
        queue.resumeProducing()
        self.successResultOf(empty)
        self.assertEqual(self.sink.written, [b"e1", b"e2"])

    def test_when_empty_fires_when_the_subscriber_goes(self) -> None:
        queue = self.full_queue(WhenFull.BLOCK, paused=True)
        empty = queue.when_empty()
        queue.stopProducing()
        self.successResultOf(empty)

    def test_a_cancelled_wait_is_left_alone(self) -> None:
        queue = self.full_queue(WhenFull.BLOCK, paused=True)
        empty = queue.when_empty()
        empty.cancel()
        queue.resumeProducing()
        self.failureResultOf(empty)

    def test_a_full_block_queue_warns_that_publishers_wait(self) -> None:
        queue = self.full_queue(WhenFull.BLOCK, paused=True)
        with capturedLogs() as events:
            queue.offer(b"e3")
            queue.offer(b"e4")
        [warning] = [e for e in events if e["log_level"] is LogLevel.warn]
        self.assertIn("publishers wait", formatEvent(warning))
        self.assertIn("peer-7", formatEvent(warning))


class BoundsAndPoliciesTests(QueueTestCase):
    def paused_queue(self, **bounds) -> DeliveryQueue:
        queue = self.make_queue(**bounds)
        queue.pauseProducing()
        return queue

    def test_the_byte_bound_fills_a_queue_before_its_size(self) -> None:
        queue = self.paused_queue(size=100, max_bytes=10, when_full=WhenFull.DROP)
        self.offer_all(queue, [b"12345", b"6789", b"ab", b"c"])
        # b"ab" would have made 11 bytes; b"c" makes 10.
        self.assertEqual((len(queue), queue.bytes, queue.dropped), (3, 10, 1))

    def test_one_event_over_the_byte_bound_still_goes_into_an_empty_queue(self) -> None:
        queue = self.paused_queue(max_bytes=10, when_full=WhenFull.DROP)
        self.assertFalse(queue.offer(b"x" * 50))
        self.assertEqual((len(queue), queue.dropped), (1, 0))

    def test_drop_new_tells_the_next_event_how_many_it_missed(self) -> None:
        queue = self.paused_queue(size=2, when_full=WhenFull.DROP)
        self.offer_all(queue, [b"a", b"b", b"c", b"d"])
        queue.resumeProducing()
        queue.offer(b"e")
        self.clock.advance(0)
        self.assertEqual(self.sink.written, [b"a", b"b", b"e"])
        self.assertEqual(self.sink.dropped_before, {b"e": 2})

    def test_drop_oldest_keeps_the_latest_and_says_what_went(self) -> None:
        queue = self.paused_queue(size=2, when_full=WhenFull.DROP_OLDEST)
        self.assertEqual(self.offer_all(queue, [b"a", b"b", b"c", b"d"]), [False] * 4)
        queue.resumeProducing()
        self.assertEqual(self.sink.written, [b"c", b"d"])
        self.assertEqual(self.sink.dropped_before, {b"c": 2})
        self.assertEqual(queue.dropped, 2)

    def test_drop_oldest_adds_to_what_the_head_had_missed(self) -> None:
        queue = self.paused_queue(size=2, when_full=WhenFull.DROP_OLDEST)
        self.offer_all(queue, [b"a", b"b", b"c", b"d", b"e"])
        queue.resumeProducing()
        self.assertEqual(self.sink.written, [b"d", b"e"])
        self.assertEqual(self.sink.dropped_before, {b"d": 3})

    def test_disconnect_gives_up_at_once_and_keeps_nothing(self) -> None:
        queue = self.paused_queue(size=2, when_full=WhenFull.DISCONNECT)
        self.offer_all(queue, [b"a", b"b", b"c"])
        [reason] = self.sink.gave_up
        self.assertIn("its queue is full (2 events, 2 bytes queued", reason)
        self.assertEqual((len(queue), queue.bytes, self.budget.used), (0, 0, 0))
        self.assertFalse(queue.offer(b"d"))

    def test_a_queue_full_for_the_timeout_gives_up_and_frees_its_publishers(self) -> None:
        queue = self.paused_queue(size=2, slow_consumer_seconds=10)
        self.assertEqual(self.offer_all(queue, [b"a", b"b", b"c"]), [False, False, True])
        waiting = queue.when_room()
        self.clock.advance(9.9)
        self.assertEqual(self.sink.gave_up, [])
        self.assertNoResult(waiting)
        self.clock.advance(0.2)
        [reason] = self.sink.gave_up
        self.assertIn("stayed full for 10 seconds", reason)
        self.successResultOf(waiting)

    def test_room_before_the_timeout_starts_it_again(self) -> None:
        queue = self.paused_queue(size=2, slow_consumer_seconds=10)
        self.offer_all(queue, [b"a", b"b", b"c"])
        self.clock.advance(9)
        queue.resumeProducing()
        queue.pauseProducing()
        self.offer_all(queue, [b"d", b"e", b"f"])
        self.clock.advance(9)
        self.assertEqual(self.sink.gave_up, [])
        self.clock.advance(1.1)
        self.assertEqual(len(self.sink.gave_up), 1)

    def test_a_policy_asked_for_applies_at_once(self) -> None:
        queue = self.paused_queue(size=2)
        self.offer_all(queue, [b"a", b"b", b"c"])
        waiting = queue.when_room()
        queue.set_policy(WhenFull.DROP)
        self.successResultOf(waiting)
        self.assertFalse(queue.offer(b"d"))
        self.assertEqual(queue.dropped, 1)
        self.clock.advance(60)
        self.assertEqual(self.sink.gave_up, [])

    def test_queued_bytes_are_charged_to_the_budget_until_written(self) -> None:
        queue = self.paused_queue()
        self.offer_all(queue, [b"abc", b"de"])
        self.assertEqual(self.budget.used, 5)
        queue.resumeProducing()
        self.assertEqual(self.budget.used, 0)
        queue.pauseProducing()
        queue.offer(b"xyz")
        queue.stopProducing()
        self.assertEqual((self.budget.used, self.budget.peak), (0, 5))
