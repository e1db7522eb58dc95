"""
Tests for L{eventd.wire.subjects}: what a subject is, how a pattern compiles.
"""

from twisted.trial.unittest import SynchronousTestCase

from eventd.errors import BadPattern, BadSubject
from eventd.wire.subjects import (
    MAX_SUBJECT_LENGTH,
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


class WhereRE2DiffersFromPythonTests(SynchronousTestCase):
    """
    The differences docs/protocol.md (section 8) warns Pyro users of.
    """

    def test_dollar_does_not_match_before_a_final_newline(self) -> None:
        self.assertIsNone(compile_pattern("^news$").match("news\n"))
        self.assertIsNotNone(compile_pattern("^news$").match("news"))

    def test_python_end_of_text_is_refused_and_re2s_accepted(self) -> None:
        self.assertRaises(BadPattern, compile_pattern, r"news\Z")
        self.assertIsNotNone(compile_pattern(r"news\z").match("NEWS"))

    def test_digits_and_word_characters_are_ascii_only(self) -> None:
        self.assertIsNone(compile_pattern(r"\d").match("٣"))
        self.assertIsNone(compile_pattern(r"\w").match("é"))
        self.assertIsNotNone(compile_pattern(r"\pL").match("é"))

    def test_possessive_and_atomic_forms_are_refused(self) -> None:
        for pattern in ("a*+", "(?>a)"):
            self.assertRaises(BadPattern, compile_pattern, pattern)
