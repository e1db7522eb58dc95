"""
Tests for L{eventd.server.broker.SubscriptionManager}, with fake subscribers.
"""

import random
import re

from twisted.internet.defer import Deferred, succeed
from twisted.trial.unittest import SynchronousTestCase
from zope.interface import implementer
from zope.interface.verify import verifyObject

from eventd.errors import BadPattern, BadSubject, LimitExceeded, TooManySubscriptions
from eventd.server.broker import DEPARTED_PER_TURN, SubscriptionManager
from eventd.server.config import Limits
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

    def test_subscriptions_of_a_removed_subscriber_are_dropped_a_part_at_a_time(self) -> None:
        due = []
        self.broker.on_work_due = lambda: due.append(True)
        subjects = [f"s{n}" for n in range(DEPARTED_PER_TURN)]
        patterns = [rf"p{n}\." for n in range(DEPARTED_PER_TURN)]
        self.matching(self.subscribed(self.alice, *subjects), *patterns)
        self.subscribed(self.bob, "s0")
        while self.broker.work():
            pass
        due.clear()
        self.broker.remove(self.alice)
        self.assertEqual(due, [True])
        self.assertEqual(self.broker.subscribers_for("s0"), (self.bob,))
        self.assertEqual(self.broker.subscribers_for("p1.x"), ())
        counts = [self.broker.subscription_count]
        more = True
        while more:
            more = self.broker.work()
            counts.append(self.broker.subscription_count)
        # A unit of work drops DEPARTED_PER_TURN (then tidies shards).
        self.assertEqual(
            list(dict.fromkeys(counts)), [2 * DEPARTED_PER_TURN + 1, DEPARTED_PER_TURN + 1, 1]
        )
        self.assertEqual((self.broker.subjects, self.broker.patterns), (["s0"], []))
        self.assertEqual(due, [True])

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
        broker = SubscriptionManager(Limits(max_subscriptions=3))
        broker.subscribe(self.alice, ["a", "b"])
        self.assertRaises(TooManySubscriptions, broker.subscribe, self.alice, ["c", "d"])
        self.assertEqual(sorted(broker.subjects), ["a", "b"])

    def test_subscribe_match_past_the_limit_adds_nothing(self) -> None:
        broker = SubscriptionManager(Limits(max_subscriptions=3))
        broker.subscribe(self.alice, ["a", "b"])
        self.assertRaises(
            TooManySubscriptions, broker.subscribe_match, self.alice, ["c", "d"]
        )
        self.assertEqual(broker.patterns, [])

    def test_subscriptions_already_held_do_not_count_again(self) -> None:
        broker = SubscriptionManager(Limits(max_subscriptions=2))
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


class LimitTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.alice = FakeSubscriber("alice")
        self.bob = FakeSubscriber("bob")

    def test_a_call_naming_too_many_is_refused_whole(self) -> None:
        broker = SubscriptionManager(Limits(max_call_names=3))
        for call in (broker.subscribe, broker.subscribe_match, broker.unsubscribe):
            error = self.assertRaises(LimitExceeded, call, self.alice, ["a", "b", "c", "d"])
            self.assertIn("--max-call-names", str(error))
        self.assertEqual((broker.subjects, broker.patterns), ([], []))

    def test_the_server_wide_limit_counts_every_subscriber(self) -> None:
        broker = SubscriptionManager(Limits(max_total_subscriptions=3))
        broker.subscribe(self.alice, ["a", "b"])
        error = self.assertRaises(
            TooManySubscriptions, broker.subscribe_match, self.bob, ["c", "d"]
        )
        self.assertIn("--max-total-subscriptions", str(error))
        broker.unsubscribe(self.alice, ["a"])
        broker.subscribe_match(self.bob, ["c", "d"])
        self.assertEqual(broker.subscription_count, 3)
        broker.remove(self.bob)
        self.assertEqual(broker.subscription_count, 3)  # until dropped, a turn at a time
        while broker.work():
            pass
        self.assertEqual(broker.subscription_count, 1)

    def test_a_pattern_over_the_size_limit_is_refused_naming_it(self) -> None:
        broker = SubscriptionManager(Limits(max_pattern_size=100))
        error = self.assertRaises(BadPattern, broker.subscribe_match, self.alice, [r"\pL"])
        self.assertIn(r'pattern "\pL" compiles to more than 100 RE2 instructions', str(error))
        self.assertIn("(--max-pattern-size)", str(error))
        self.assertEqual(broker.patterns, [])

    def test_patterns_over_the_servers_budget_are_refused_whole(self) -> None:
        broker = SubscriptionManager(Limits(max_pattern_instructions=100))
        broker.subscribe_match(self.alice, ["a"])
        held = broker.pattern_instructions
        error = self.assertRaises(
            TooManySubscriptions, broker.subscribe_match, self.bob, ["b", r"[\pL]+"]
        )
        self.assertIn("--max-pattern-instructions", str(error))
        self.assertEqual((broker.patterns, broker.pattern_instructions), (["a"], held))

    def test_a_pattern_far_over_the_size_limit_is_refused_without_compiling_it_all(self) -> None:
        broker = SubscriptionManager(Limits(max_pattern_size=2000))
        error = self.assertRaises(BadPattern, broker.compile, r"\pL{40}refused")
        self.assertIn("more than 2000 RE2 instructions", str(error))

    def test_a_pattern_held_already_costs_no_more(self) -> None:
        broker = SubscriptionManager(Limits(max_pattern_instructions=20))
        broker.subscribe_match(self.alice, ["a"])
        broker.subscribe_match(self.bob, ["a"])
        self.assertIsNone(broker.compile("a"))


class RememberedTargetsTests(SynchronousTestCase):
    """
    What the broker remembers of who gets which subject, and what a change
    of subscriptions makes it forget: only what the change affects.
    """

    def setUp(self) -> None:
        self.broker = SubscriptionManager()
        self.alice, self.bob = FakeSubscriber("alice"), FakeSubscriber("bob")
        self.matched: list[str] = []
        real = self.broker._patterns.match
        self.broker._patterns.match = lambda subject: (self.matched.append(subject), real(subject))[1]

    def warm(self, *subjects: str) -> None:
        for subject in subjects:
            self.broker.subscribers_for(subject)
        self.matched.clear()

    def test_an_exact_change_forgets_only_its_subject(self) -> None:
        self.broker.subscribe(self.alice, ["a", "b"])
        self.warm("a", "A", "b")
        self.broker.subscribe(self.bob, ["a"])
        self.assertEqual(self.broker.subscribers_for("b"), (self.alice,))
        self.assertEqual(set(self.broker.subscribers_for("A")), {self.alice, self.bob})
        self.assertEqual(self.matched, ["A"])

    def test_a_new_pattern_is_tried_on_remembered_subjects_alone(self) -> None:
        self.broker.subscribe(self.alice, ["a.1", "b.1"])
        self.warm("a.1", "b.1")
        self.broker.subscribe_match(self.bob, [r"a\."])
        self.assertEqual(set(self.broker.subscribers_for("a.1")), {self.alice, self.bob})
        self.assertEqual(self.broker.subscribers_for("b.1"), (self.alice,))
        self.assertEqual(self.matched, [])

    def test_a_pattern_dropped_forgets_only_what_it_matched(self) -> None:
        self.broker.subscribe_match(self.alice, [r"a\.", r"b\."])
        self.warm("a.1", "b.1")
        self.broker.unsubscribe(self.alice, [r"a\."])
        self.assertEqual(self.broker.subscribers_for("a.1"), ())
        self.assertEqual(self.broker.subscribers_for("b.1"), (self.alice,))
        self.assertEqual(self.matched, ["a.1"])

    def test_many_new_patterns_at_once_work_subjects_out_again(self) -> None:
        self.warm("x.1")
        self.broker.subscribe_match(self.alice, [f"p{n}" for n in range(100)] + ["x"])
        self.assertEqual(self.broker.subscribers_for("x.1"), (self.alice,))
        self.assertEqual(self.matched, ["x.1"])

    def test_any_sequence_of_changes_gives_what_a_fresh_look_would(self) -> None:
        """
        2,000 random subscriptions, unsubscriptions and departures of six
        subscribers, with subjects looked up and units of work done in
        between; after each step
        every subject reaches exactly who a broker built from scratch would
        send it to.
        """
        rng = random.Random(3)
        subscribers = [FakeSubscriber(name) for name in "uvwxyz"]
        subjects = [f"{a}.{n}" for a in "abcd" for n in range(5)] + ["A.1", "B.2"]
        names = subjects + [r"a\.", r"b\.[0-2]", r"[ab]", "c", r"d\.4$", ".*"]
        for step in range(2000):
            who = rng.choice(subscribers)
            action = rng.random()
            name = rng.choice(names)
            if action < 0.35:
                self.broker.subscribe(who, [name])
            elif action < 0.6:
                self.broker.subscribe_match(who, [name])
            elif action < 0.95:
                self.broker.unsubscribe(who, [name])
            else:
                self.broker.remove(who)
            if rng.random() < 0.2:
                self.broker.work()
            for subject in rng.sample(subjects, 4):
                self.assertEqual(
                    set(self.broker.subscribers_for(subject)), expected(self.broker, subject),
                    (step, subject),
                )


def expected(broker: SubscriptionManager, subject: str) -> set:
    """
    Who gets C{subject}, worked out from every subscriber's holdings alone.
    """
    found = set()
    for subscriber in broker.subscribers:
        keys, patterns = broker.subscriptions_of(subscriber)
        if subject.casefold() in keys or any(re.match(p, subject, re.I) for p in patterns):
            found.add(subscriber)
    return found
