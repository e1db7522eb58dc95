"""
Tests for L{eventd.matching}: subjects, patterns and the pattern index.
"""

from twisted.trial.unittest import SynchronousTestCase

from eventd.errors import BadPattern, BadSubject
from eventd.matching import (
    MAX_SUBJECT_LENGTH,
    PatternIndex,
    check_subject,
    compile_pattern,
    fold_subject,
)


class FoldSubjectTests(SynchronousTestCase):
    def test_spellings_differing_in_case_fold_alike(self) -> None:
        self.assertEqual(fold_subject("Stock.IBM"), fold_subject("sTOCK.ibm"))

    def test_non_ascii_spellings_differing_in_case_fold_alike(self) -> None:
        self.assertEqual(fold_subject("ÉTÉ.Ωμέγα"), fold_subject("été.ωμέγα"))

    def test_sharp_s_folds_like_double_s(self) -> None:
        self.assertEqual(fold_subject("STRASSE"), fold_subject("straße"))

    def test_different_subjects_fold_apart(self) -> None:
        self.assertNotEqual(fold_subject("a.b"), fold_subject("a.c"))


class CheckSubjectTests(SynchronousTestCase):
    def assertRefused(self, subject: object, *words: str) -> None:
        error = self.assertRaises(BadSubject, check_subject, subject)
        for word in words:
            self.assertIn(word, str(error))

    def test_good_subject_is_returned(self) -> None:
        self.assertEqual(check_subject("weather.Paris"), "weather.Paris")

    def test_subject_of_the_longest_length_is_accepted(self) -> None:
        subject = "s" * MAX_SUBJECT_LENGTH
        self.assertEqual(check_subject(subject), subject)

    def test_non_string_is_refused_naming_its_type(self) -> None:
        self.assertRefused(b"bytes", "string", "bytes")

    def test_empty_subject_is_refused(self) -> None:
        self.assertRefused("", "empty")

    def test_too_long_subject_is_refused_with_length_and_limit(self) -> None:
        self.assertRefused(
            "s" * (MAX_SUBJECT_LENGTH + 1),
            str(MAX_SUBJECT_LENGTH + 1),
            str(MAX_SUBJECT_LENGTH),
        )


class CompilePatternTests(SynchronousTestCase):
    def assertMatches(self, pattern: str, subject: str) -> None:
        self.assertIsNotNone(compile_pattern(pattern).match(subject))

    def assertNoMatch(self, pattern: str, subject: str) -> None:
        self.assertIsNone(compile_pattern(pattern).match(subject))

    def assertRefused(self, pattern: object) -> BadPattern:
        return self.assertRaises(BadPattern, compile_pattern, pattern)

    def assertRefusedNamingIt(self, pattern: str) -> None:
        self.assertIn(pattern, str(self.assertRefused(pattern)))

    def test_pattern_is_anchored_at_the_start(self) -> None:
        self.assertNoMatch("b", "ab")

    def test_pattern_is_not_anchored_at_the_end(self) -> None:
        self.assertMatches("stock\\.", "stock.IBM")

    def test_pattern_matches_without_regard_to_case(self) -> None:
        self.assertMatches("stock\\.ibm", "STOCK.IBM")

    def test_pattern_matches_non_ascii_without_regard_to_case(self) -> None:
        self.assertMatches("été", "ÉTÉ.chaud")

    def test_backreference_is_refused_naming_the_pattern(self) -> None:
        self.assertRefusedNamingIt("(a)\\1")

    def test_lookahead_is_refused_naming_the_pattern(self) -> None:
        self.assertRefusedNamingIt("(?=x)")

    def test_unclosed_bracket_is_refused_naming_the_pattern(self) -> None:
        self.assertRefusedNamingIt("stock[")

    def test_too_long_pattern_is_refused_with_length_and_limit(self) -> None:
        error = str(self.assertRefused("p" * (MAX_SUBJECT_LENGTH + 1)))
        self.assertIn(str(MAX_SUBJECT_LENGTH + 1), error)
        self.assertIn(str(MAX_SUBJECT_LENGTH), error)

    def test_empty_pattern_is_refused(self) -> None:
        self.assertRefused("")

    def test_non_string_pattern_is_refused(self) -> None:
        self.assertRefused(42)


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
