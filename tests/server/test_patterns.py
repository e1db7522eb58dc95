"""
Tests for L{eventd.server.patterns}: every subscriber's patterns, matched at
once.
"""

from twisted.trial.unittest import SynchronousTestCase

from eventd.server.patterns import PatternIndex


class PatternIndexTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.index: PatternIndex[str] = PatternIndex()

    def matched(self, subject: str) -> list[str]:
        return list(self.index.match(subject))

    def test_empty_index_matches_nothing(self) -> None:
        self.assertEqual(self.matched("anything"), [])

    def test_owner_of_a_matching_pattern_is_returned(self) -> None:
        self.index.add("stock\\.", "alice")
        self.assertEqual(self.matched("STOCK.ibm"), ["alice"])

    def test_match_is_anchored_at_the_start(self) -> None:
        self.index.add("ibm", "alice")
        self.assertEqual(self.matched("stock.ibm"), [])

    def test_owner_is_returned_once_when_several_patterns_match(self) -> None:
        for pattern in ("s", "st", "sto"):
            self.index.add(pattern, "alice")
        self.assertEqual(self.matched("stock"), ["alice"])

    def test_every_owner_of_a_pattern_is_returned(self) -> None:
        self.index.add("s", "alice")
        self.index.add("s", "bob")
        self.assertEqual(sorted(self.matched("stock")), ["alice", "bob"])

    def test_pattern_added_after_a_match_is_used(self) -> None:
        self.index.add("a", "alice")
        self.matched("b")
        self.index.add("b", "bob")
        self.assertEqual(self.matched("b"), ["bob"])

    def test_discarded_pattern_no_longer_matches(self) -> None:
        self.index.add("a", "alice")
        self.index.add("b", "bob")
        self.matched("a")
        self.index.discard("a", "alice")
        self.assertEqual((self.matched("a"), self.matched("b")), ([], ["bob"]))

    def test_pattern_stays_while_another_owner_holds_it(self) -> None:
        self.index.add("a", "alice")
        self.index.add("a", "bob")
        self.index.discard("a", "alice")
        self.assertEqual(self.matched("a"), ["bob"])

    def test_discard_of_unknown_pattern_or_owner_is_a_no_op(self) -> None:
        self.index.add("a", "alice")
        self.index.discard("zzz", "alice")
        self.index.discard("a", "bob")
        self.assertEqual((self.index.patterns, self.matched("a")), (["a"], ["alice"]))

    def test_len_counts_distinct_patterns(self) -> None:
        self.index.add("a", "alice")
        self.index.add("a", "bob")
        self.index.add("b", "bob")
        self.assertEqual(len(self.index), 2)

    def test_contains_tells_whether_a_pattern_is_held(self) -> None:
        self.index.add("a", "alice")
        self.assertEqual(("a" in self.index, "b" in self.index), (True, False))

    def test_patterns_lists_distinct_patterns(self) -> None:
        self.index.add("a", "alice")
        self.index.add("b", "alice")
        self.index.add("a", "bob")
        self.assertEqual(sorted(self.index.patterns), ["a", "b"])

    def test_last_discard_removes_the_pattern(self) -> None:
        self.index.add("a", "alice")
        self.index.discard("a", "alice")
        self.assertEqual((len(self.index), "a" in self.index), (0, False))
