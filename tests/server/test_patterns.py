"""
Tests for L{eventd.server.patterns}: every subscriber's patterns, matched at
once, in shards that are cheap to change.
"""

import random
import re

from twisted.trial.unittest import SynchronousTestCase

from eventd.server.patterns import (
    NEWCOMERS,
    SHARD_INSTRUCTIONS,
    CompiledPattern,
    PatternIndex,
    matcher_of,
)
from eventd.wire.subjects import compile_pattern


class PatternIndexTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.due = []
        self.index: PatternIndex[str] = PatternIndex(lambda: self.due.append(True))

    def add(self, pattern: str, owner: str) -> bool:
        compiled = CompiledPattern(compile_pattern(pattern).programsize, matcher_of([pattern]))
        return self.index.add(pattern, owner, compiled)

    def work(self) -> int:
        """Do all the work due, a unit at a time; how many units it took."""
        units = 0
        while self.index.work_due:
            self.index.work()
            units += 1
        return units

    def matched(self, subject: str) -> list[str]:
        return sorted(self.index.match(subject))

    def test_empty_index_matches_nothing(self) -> None:
        self.assertEqual(self.matched("anything"), [])

    def test_a_matching_pattern_is_returned(self) -> None:
        self.add("stock\\.", "alice")
        self.assertEqual(self.matched("STOCK.ibm"), ["stock\\."])

    def test_match_is_anchored_at_the_start(self) -> None:
        self.add("ibm", "alice")
        self.assertEqual(self.matched("stock.ibm"), [])

    def test_every_matching_pattern_is_returned_once(self) -> None:
        for pattern in ("s", "st", "sto", "x"):
            self.add(pattern, "alice")
        self.assertEqual(self.matched("stock"), ["s", "st", "sto"])

    def test_owners_of_a_pattern(self) -> None:
        self.add("s", "alice")
        self.add("s", "bob")
        self.assertEqual(sorted(self.index.owners_of("s")), ["alice", "bob"])

    def test_add_says_whether_the_pattern_is_new(self) -> None:
        self.assertEqual((self.add("s", "alice"), self.add("s", "bob")), (True, False))

    def test_discard_says_whether_the_pattern_left(self) -> None:
        self.add("s", "alice")
        self.add("s", "bob")
        self.assertEqual(
            (self.index.discard("s", "alice"), self.index.discard("s", "bob")), (False, True)
        )
        self.assertEqual(self.matched("s"), [])

    def test_discard_of_unknown_pattern_or_owner_is_a_no_op(self) -> None:
        self.add("a", "alice")
        self.assertFalse(self.index.discard("zzz", "alice"))
        self.assertFalse(self.index.discard("a", "mallory"))
        self.assertEqual(self.matched("a"), ["a"])

    def test_instructions_count_the_distinct_patterns_held(self) -> None:
        size = compile_pattern("ab").programsize
        self.add("ab", "alice")
        self.add("ab", "bob")
        self.assertEqual(self.index.instructions, size)
        self.index.discard("ab", "alice")
        self.index.discard("ab", "bob")
        self.assertEqual(self.index.instructions, 0)

    def test_newcomers_become_a_shard_when_the_work_is_done(self) -> None:
        for n in range(NEWCOMERS):
            self.add(f"p{n}$", "alice")
        self.assertEqual((self.index._shards, self.due), ([], [True]))
        self.assertEqual(self.matched("P7"), ["p7$"])
        self.assertEqual(self.work(), 1)
        self.assertEqual(len(self.index._shards), 1)
        self.assertEqual(self.index._newcomers, {})
        self.assertEqual(self.matched("P7"), ["p7$"])

    def test_each_unit_of_work_builds_one_shard_within_its_size(self) -> None:
        big = r"[\pL\pN]+$"
        for n in range(100):
            self.add(f"{n}{big}", "alice")
        units = self.work()
        self.assertEqual(units, len(self.index._shards))
        self.assertLess(len(self.index._newcomers), NEWCOMERS)
        sizes = [shard.size for shard in self.index._shards]
        self.assertTrue(all(size <= SHARD_INSTRUCTIONS for size in sizes), sizes)
        self.assertEqual(self.matched("5ö"), [f"5{big}"])

    def test_adding_and_removing_builds_nothing_at_once(self) -> None:
        for n in range(NEWCOMERS * 3):
            self.add(f"p{n}$", "alice")
        for n in range(NEWCOMERS * 3):
            self.index.discard(f"p{n}$", "alice")
        self.assertEqual(self.index._shards, [])
        self.assertEqual((self.work(), self.matched("p1")), (0, []))

    def test_a_shard_half_gone_is_rebuilt_without_them(self) -> None:
        for n in range(NEWCOMERS):
            self.add(f"p{n}$", "alice")
        self.work()
        [shard] = self.index._shards
        for n in range(NEWCOMERS // 2):
            self.index.discard(f"p{n}$", "alice")
        self.assertEqual(self.index._shards, [shard])
        self.assertEqual(self.work(), 1)
        [rebuilt] = self.index._shards
        self.assertIsNot(rebuilt, shard)
        self.assertEqual(len(rebuilt.patterns), NEWCOMERS // 2)
        self.assertEqual(self.matched(f"p{NEWCOMERS - 1}"), [f"p{NEWCOMERS - 1}$"])
        self.assertEqual(self.matched("p0"), [])

    def test_a_pattern_gone_from_a_shard_comes_back_without_a_rebuild(self) -> None:
        for n in range(NEWCOMERS):
            self.add(f"p{n}$", "alice")
        self.work()
        [shard] = self.index._shards
        self.index.discard("p3$", "alice")
        self.assertEqual(self.matched("p3"), [])
        self.add("p3$", "bob")
        self.assertEqual(self.index._shards, [shard])
        self.assertEqual(self.matched("p3"), ["p3$"])

    def test_matches_tells_one_pattern_in_a_shard_or_a_newcomer(self) -> None:
        for n in range(NEWCOMERS):
            self.add(f"p{n}$", "alice")
        self.work()
        self.add(f"p{NEWCOMERS}$", "alice")
        self.assertTrue(self.index.matches("p0$", "P0"))
        self.assertTrue(self.index.matches(f"p{NEWCOMERS}$", f"p{NEWCOMERS}"))
        self.assertFalse(self.index.matches("p0$", "p1"))

    def test_any_sequence_of_changes_matches_as_python_would(self) -> None:
        """
        Random adds and discards of 300 patterns by 5 owners, checked
        against Python's re after each step.
        """
        rng = random.Random(8)
        held: dict[str, set[str]] = {}
        subjects = [f"{a}.{b}" for a in "abcdefgh" for b in range(10)]
        for step in range(1500):
            pattern = f"{rng.choice('abcdefgh')}\\.{rng.randrange(10)}{rng.choice(['', '$', '.*'])}"
            owner = rng.choice("vwxyz")
            if rng.random() < 0.6:
                self.add(pattern, owner)
                held.setdefault(pattern, set()).add(owner)
            else:
                self.index.discard(pattern, owner)
                held.get(pattern, set()).discard(owner)
                if not held.get(pattern, True):
                    del held[pattern]
            if step % 7 == 0:
                self.index.work()
            if step % 50 == 0:
                for subject in subjects:
                    expected = sorted(p for p in held if re.match(p, subject, re.I))
                    self.assertEqual(self.matched(subject), expected, (step, subject))
