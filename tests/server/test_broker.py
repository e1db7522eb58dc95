"""
Tests for L{eventd.broker.SubscriptionManager}, with fake subscribers.
"""


from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from eventd.errors import BadPattern, BadSubject, TooManySubscriptions
from eventd.server.broker import SubscriptionManager
from eventd.server.interfaces import ISubscriber


@implementer(ISubscriber)
class FakeSubscriber:
    """
    Records every item offered; while C{blocking}, says each offer went past
    its bound, as a full block-mode queue does.
    """

    def __init__(self, peer: str, blocking: bool = False) -> None:
        self.peer = peer
        self.blocking = blocking
        self.items: list[bytes] = []

    def offer(self, item: bytes) -> bool:
        self.items.append(item)
        return self.blocking

    def when_room(self) -> Deferred[None]:
        return succeed(None)

    def __repr__(self) -> str:
        return f"<FakeSubscriber {self.peer}>"


class SubscriptionManagerTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.broker = SubscriptionManager()
        self.alice = FakeSubscriber("alice")
        self.bob = FakeSubscriber("bob")

    def subscribed(self, subscriber: FakeSubscriber, *subjects: str) -> FakeSubscriber:
        self.broker.subscribe(subscriber, subjects)
        return subscriber

    def matching(self, subscriber: FakeSubscriber, *patterns: str) -> FakeSubscriber:
        self.broker.subscribe_match(subscriber, patterns)
        return subscriber

    def holdings(self, subscriber: FakeSubscriber) -> tuple[set[str], set[str]]:
        return self.broker.subscriptions_of(subscriber)

    def test_fake_subscriber_provides_the_interface(self) -> None:
        self.assertTrue(verifyObject(ISubscriber, self.alice))

    def test_exact_subject_matches_without_regard_to_case(self) -> None:
        self.subscribed(self.alice, "Stock.IBM")
        self.broker.publish("sTOCK.ibm", b"e")
        self.assertEqual(self.alice.items, [b"e"])

    def test_exact_subject_does_not_match_another_subject(self) -> None:
        self.subscribed(self.alice, "stock.ibm")
        self.broker.publish("stock.ibm.x", b"e")
        self.assertEqual(self.alice.items, [])

    def test_pattern_matches_at_the_start_without_regard_to_case(self) -> None:
        self.matching(self.alice, "stock\\.")
        self.broker.publish("STOCK.IBM", b"e")
        self.assertEqual(self.alice.items, [b"e"])

    def test_pattern_does_not_match_later_in_the_subject(self) -> None:
        self.matching(self.alice, "ibm")
        self.broker.publish("stock.ibm", b"e")
        self.assertEqual(self.alice.items, [])

    def test_subscriber_matched_by_subject_and_pattern_gets_event_once(self) -> None:
        self.subscribed(self.alice, "stock.ibm")
        self.matching(self.alice, "stock", "stock\\.i")
        self.broker.publish("stock.ibm", b"e")
        self.assertEqual(self.alice.items, [b"e"])

    def test_every_subscriber_gets_the_event(self) -> None:
        self.subscribed(self.alice, "news")
        self.matching(self.bob, "n")
        self.broker.publish("news", b"e")
        self.assertEqual((self.alice.items, self.bob.items), ([b"e"], [b"e"]))

    def test_subscribe_adds_nothing_when_one_subject_is_bad(self) -> None:
        self.assertRaises(BadSubject, self.broker.subscribe, self.alice, ["a", ""])
        self.assertEqual((self.broker.subjects, self.broker.subscribers), ([], []))

    def test_subscribe_match_changes_nothing_when_one_pattern_is_bad(self) -> None:
        self.matching(self.alice, "old")
        self.assertRaises(
            BadPattern, self.broker.subscribe_match, self.alice, ["new", "("]
        )
        self.assertEqual(self.holdings(self.alice), (set(), {"old"}))
        self.assertEqual(self.broker.patterns, ["old"])

    def test_unsubscribe_removes_a_name_as_subject_and_as_pattern(self) -> None:
        self.subscribed(self.alice, "News", "weather")
        self.matching(self.alice, "news")
        self.broker.unsubscribe(self.alice, ["news"])
        self.assertEqual(self.holdings(self.alice), ({"weather"}, set()))
        self.broker.publish("news", b"e")
        self.assertEqual(self.alice.items, [])

    def test_unsubscribe_ignores_names_not_held(self) -> None:
        self.subscribed(self.alice, "news")
        self.broker.unsubscribe(self.alice, ["weather"])
        self.broker.unsubscribe(self.bob, ["news"])
        self.assertEqual(self.holdings(self.alice), ({"news"}, set()))

    def test_unsubscribing_everything_forgets_the_subscriber(self) -> None:
        self.subscribed(self.alice, "news")
        self.broker.unsubscribe(self.alice, ["NEWS"])
        self.assertEqual((self.broker.subscribers, self.broker.subjects), ([], []))

    def test_remove_drops_every_subscription_of_one_subscriber(self) -> None:
        self.matching(self.subscribed(self.alice, "news"), "w")
        self.matching(self.subscribed(self.bob, "news"), "w")
        self.broker.remove(self.alice)
        self.broker.publish("news", b"n")
        self.broker.publish("weather", b"w")
        self.assertEqual((self.alice.items, self.bob.items), ([], [b"n", b"w"]))
        self.assertEqual(self.broker.subscribers, [self.bob])

    def test_remove_of_unknown_subscriber_is_a_no_op(self) -> None:
        self.subscribed(self.alice, "news")
        self.broker.remove(self.bob)
        self.assertEqual(self.broker.subscribers, [self.alice])

    def test_subscription_after_a_publish_is_seen_by_the_next_publish(self) -> None:
        self.subscribed(self.alice, "news")
        self.broker.publish("news", b"1")
        self.subscribed(self.bob, "news")
        self.broker.publish("news", b"2")
        self.assertEqual(self.bob.items, [b"2"])

    def test_pattern_after_a_publish_is_seen_by_the_next_publish(self) -> None:
        self.broker.publish("news", b"1")
        self.matching(self.alice, "n")
        self.broker.publish("news", b"2")
        self.assertEqual(self.alice.items, [b"2"])

    def test_unsubscribe_after_a_publish_is_seen_by_the_next_publish(self) -> None:
        self.subscribed(self.alice, "news")
        self.broker.publish("news", b"1")
        self.broker.unsubscribe(self.alice, ["news"])
        self.broker.publish("news", b"2")
        self.assertEqual(self.alice.items, [b"1"])

    def test_publish_returns_none_when_every_subscriber_accepted(self) -> None:
        self.subscribed(self.alice, "news")
        self.subscribed(self.bob, "news")
        self.assertIsNone(self.broker.publish("news", b"e"))

    def test_publish_names_the_subscribers_past_their_bound(self) -> None:
        slow = self.subscribed(FakeSubscriber("slow", blocking=True), "news")
        self.subscribed(self.alice, "news")
        self.assertEqual(self.broker.publish("news", b"e"), [slow])
        self.assertEqual(self.alice.items, [b"e"])

    def test_publish_names_every_subscriber_past_its_bound(self) -> None:
        slow = [
            self.subscribed(FakeSubscriber(peer, blocking=True), "news")
            for peer in ("slow1", "slow2", "slow3")
        ]
        self.assertEqual(sorted(self.broker.publish("news", b"e"), key=repr), slow)

    def test_subscribe_past_the_limit_adds_nothing(self) -> None:
        broker = SubscriptionManager(max_subscriptions=3)
        broker.subscribe(self.alice, ["a", "b"])
        self.assertRaises(TooManySubscriptions, broker.subscribe, self.alice, ["c", "d"])
        self.assertEqual(sorted(broker.subjects), ["a", "b"])

    def test_subscribe_match_past_the_limit_adds_nothing(self) -> None:
        broker = SubscriptionManager(max_subscriptions=3)
        broker.subscribe(self.alice, ["a", "b"])
        self.assertRaises(
            TooManySubscriptions, broker.subscribe_match, self.alice, ["c", "d"]
        )
        self.assertEqual(broker.patterns, [])

    def test_subscriptions_already_held_do_not_count_again(self) -> None:
        broker = SubscriptionManager(max_subscriptions=2)
        broker.subscribe(self.alice, ["a", "b"])
        broker.subscribe(self.alice, ["A", "b"])
        self.assertEqual(broker.subscriptions_of(self.alice), ({"a", "b"}, set()))

    def test_published_counts_every_publish(self) -> None:
        self.subscribed(self.alice, "news")
        self.broker.publish("news", b"1")
        self.broker.publish("nobody", b"2")
        self.assertEqual(self.broker.published, 2)

    def test_subscribers_lists_everyone_holding_a_subscription(self) -> None:
        self.subscribed(self.alice, "news")
        self.matching(self.bob, "w")
        self.assertEqual(set(self.broker.subscribers), {self.alice, self.bob})

    def test_subjects_lists_folded_subjects_once(self) -> None:
        self.subscribed(self.alice, "News")
        self.subscribed(self.bob, "NEWS", "weather")
        self.assertEqual(sorted(self.broker.subjects), ["news", "weather"])

    def test_patterns_lists_patterns_once_as_given(self) -> None:
        self.matching(self.alice, "N.*")
        self.matching(self.bob, "N.*", "w")
        self.assertEqual(sorted(self.broker.patterns), ["N.*", "w"])

    def test_subscriptions_of_gives_folded_subjects_and_patterns(self) -> None:
        self.matching(self.subscribed(self.alice, "News"), "W.*")
        self.assertEqual(self.holdings(self.alice), ({"news"}, {"W.*"}))

    def test_subscriptions_of_unknown_subscriber_is_empty(self) -> None:
        self.assertEqual(self.holdings(self.bob), (set(), set()))
