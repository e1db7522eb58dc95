"""
Tests for L{eventd.server.permissions}: who may publish, subscribe and read
the stats, as the operator's access list says.
"""

import os
import shutil
import tempfile

from twisted.trial.unittest import SynchronousTestCase

from eventd.server import permissions
from eventd.server.permissions import ALLOW_ALL, AccessList, AccessListError

EXAMPLE = r"""
[default]
publish = { allow = [".*"] }
subscribe = { allow = [".*"], deny = ["payroll\\..*"] }
stats = false

[anonymous]
subscribe = { allow = ["public\\..*"] }

[users.alice]
publish = { allow = ["orders\\..*"], deny = ["orders\\.audit"] }
subscribe = { allow = [".*"] }
stats = true
"""


def acl(text: str) -> AccessList:
    return AccessList.from_text(text, "acl.toml")


class RuleTests(SynchronousTestCase):
    """
    What one section's patterns permit.
    """

    def setUp(self) -> None:
        self.alice = acl(EXAMPLE).grants_for("alice")

    def test_allowed_subject_is_permitted(self) -> None:
        self.assertTrue(self.alice.may_publish("orders.new"))

    def test_subject_no_allow_pattern_matches_is_not_permitted(self) -> None:
        self.assertFalse(self.alice.may_publish("quotes.ibm"))

    def test_deny_wins_over_allow(self) -> None:
        self.assertFalse(self.alice.may_publish("orders.audit"))

    def test_deny_must_match_the_whole_subject_too(self) -> None:
        self.assertTrue(self.alice.may_publish("orders.auditor"))

    def test_pattern_must_match_the_whole_subject_not_a_prefix(self) -> None:
        grants = acl('[default]\npublish = { allow = ["public"] }').grants_for("bob")
        self.assertEqual(
            (grants.may_publish("public"), grants.may_publish("public.x")), (True, False)
        )

    def test_dotted_prefix_pattern_does_not_leak_a_longer_word(self) -> None:
        grants = acl(EXAMPLE).grants_for(None)
        self.assertEqual(
            (grants.may_subscribe("public.news"), grants.may_subscribe("publicity.secret")),
            (True, False),
        )

    def test_patterns_match_without_regard_to_case(self) -> None:
        self.assertEqual(
            (self.alice.may_publish("ORDERS.New"), self.alice.may_publish("Orders.AUDIT")),
            (True, False),
        )

    def test_publish_and_subscribe_are_separate(self) -> None:
        bob = acl('[default]\nsubscribe = { allow = [".*"] }').grants_for("bob")
        self.assertEqual((bob.may_subscribe("x"), bob.may_publish("x")), (True, False))

    def test_missing_allow_list_allows_nothing(self) -> None:
        bob = acl('[default]\npublish = { deny = ["secret"] }').grants_for("bob")
        self.assertFalse(bob.may_publish("anything"))

    def test_empty_allow_list_allows_nothing(self) -> None:
        bob = acl("[default]\npublish = { allow = [] }").grants_for("bob")
        self.assertFalse(bob.may_publish("anything"))

    def test_any_of_several_allow_patterns_permits(self) -> None:
        bob = acl('[default]\npublish = { allow = ["a", "b\\\\..*"] }').grants_for("bob")
        self.assertEqual(
            [bob.may_publish(s) for s in ("a", "b.x", "c")], [True, True, False]
        )


class SectionTests(SynchronousTestCase):
    """
    Which section a user gets.
    """

    def setUp(self) -> None:
        self.acl = acl(EXAMPLE)

    def test_user_with_a_section_gets_exactly_it_not_merged_with_default(self) -> None:
        alice = self.acl.grants_for("alice")
        # [default] would let her publish quotes.ibm; her own section does not.
        self.assertFalse(alice.may_publish("quotes.ibm"))

    def test_user_section_need_not_repeat_default_denials(self) -> None:
        self.assertTrue(self.acl.grants_for("alice").may_subscribe("payroll.june"))

    def test_user_without_a_section_gets_default(self) -> None:
        bob = self.acl.grants_for("bob")
        self.assertEqual(
            (bob.may_publish("quotes.ibm"), bob.may_subscribe("payroll.june")), (True, False)
        )

    def test_user_names_are_matched_exactly(self) -> None:
        self.assertIs(self.acl.grants_for("Alice"), self.acl.grants_for("bob"))

    def test_anonymous_gets_the_anonymous_section(self) -> None:
        anonymous = self.acl.grants_for(None)
        self.assertEqual(
            (anonymous.may_subscribe("public.news"), anonymous.may_publish("public.news")),
            (True, False),
        )

    def test_anonymous_gets_default_without_an_anonymous_section(self) -> None:
        anonymous = acl('[default]\npublish = { allow = ["x"] }').grants_for(None)
        self.assertTrue(anonymous.may_publish("x"))

    def test_a_user_named_like_a_section_is_still_a_user(self) -> None:
        listed = acl('[users.anonymous]\npublish = { allow = ["x"] }')
        named, anonymous = listed.grants_for("anonymous"), listed.grants_for(None)
        self.assertEqual(
            (named.may_publish("x"), anonymous.may_publish("x")),
            (True, False),
        )

    def test_missing_default_grants_nothing(self) -> None:
        listed = acl('[users.alice]\npublish = { allow = [".*"] }\nstats = true')
        bob = listed.grants_for("bob")
        self.assertEqual(
            (bob.may_publish("x"), bob.may_subscribe("x"), bob.may_read_stats),
            (False, False, False),
        )

    def test_missing_default_and_anonymous_grants_anonymous_nothing(self) -> None:
        anonymous = acl('[users.alice]\npublish = { allow = [".*"] }').grants_for(None)
        self.assertEqual((anonymous.may_publish("x"), anonymous.may_subscribe("x")), (False, False))

    def test_empty_file_grants_nothing(self) -> None:
        self.assertFalse(acl("").grants_for("bob").may_subscribe("x"))

    def test_user_with_an_empty_section_gets_nothing_not_default(self) -> None:
        listed = acl('[default]\npublish = { allow = [".*"] }\n[users.carol]')
        self.assertFalse(listed.grants_for("carol").may_publish("x"))

    def test_quoted_user_name(self) -> None:
        listed = acl('[users."bob.smith"]\npublish = { allow = ["x"] }')
        self.assertTrue(listed.grants_for("bob.smith").may_publish("x"))


class StatsTests(SynchronousTestCase):
    def test_stats_true_lets_a_user_read_stats(self) -> None:
        self.assertTrue(acl(EXAMPLE).grants_for("alice").may_read_stats)

    def test_stats_false_does_not(self) -> None:
        self.assertFalse(acl(EXAMPLE).grants_for("bob").may_read_stats)

    def test_missing_stats_is_false(self) -> None:
        self.assertFalse(acl(EXAMPLE).grants_for(None).may_read_stats)


class AllowAllTests(SynchronousTestCase):
    """
    L{ALLOW_ALL}: what a server without an access list grants.
    """

    def test_publish_and_subscribe_anything(self) -> None:
        self.assertEqual(
            (ALLOW_ALL.may_publish("payroll.june"), ALLOW_ALL.may_subscribe("A.b.C")), (True, True)
        )

    def test_even_a_subject_with_a_newline(self) -> None:
        self.assertTrue(ALLOW_ALL.may_publish("two\nlines"))

    def test_stats(self) -> None:
        self.assertTrue(ALLOW_ALL.may_read_stats)


class CacheTests(SynchronousTestCase):
    """
    Answers are kept per subject, in a bounded cache per L{Grants}.
    """

    def setUp(self) -> None:
        self.acl = acl(EXAMPLE)

    def test_same_user_gets_the_same_grants(self) -> None:
        self.assertIs(self.acl.grants_for("alice"), self.acl.grants_for("alice"))

    def test_users_without_a_section_share_the_default_grants(self) -> None:
        self.assertIs(self.acl.grants_for("bob"), self.acl.grants_for("carol"))

    def test_asking_again_gives_the_same_answers(self) -> None:
        alice = self.acl.grants_for("alice")
        subjects = ["orders.new", "orders.audit", "quotes.ibm", "ORDERS.new"]
        first = [alice.may_publish(s) for s in subjects]
        self.assertEqual([alice.may_publish(s) for s in subjects], first)
        self.assertEqual(first, [True, False, False, True])

    def test_an_answer_kept_is_not_matched_again(self) -> None:
        rule = self.acl.grants_for("alice")._publish
        rule.permits("orders.new")
        calls = []
        self.patch(rule, "_decide", lambda subject: calls.append(subject) or False)
        self.assertEqual((rule.permits("orders.new"), calls), (True, []))

    def test_cache_stays_bounded_and_answers_stay_right(self) -> None:
        self.patch(permissions, "CACHE_SUBJECTS", 3)
        alice = self.acl.grants_for("alice")
        subjects = [f"orders.{n}" for n in range(10)] + ["orders.audit", "quotes.ibm"]
        answers = [alice.may_publish(s) for s in subjects * 2]
        self.assertEqual(answers, ([True] * 10 + [False, False]) * 2)
        self.assertLessEqual(len(alice._publish._answers), 3)

    def test_publish_and_subscribe_answers_are_kept_apart(self) -> None:
        bob = acl('[default]\nsubscribe = { allow = ["x"] }').grants_for("bob")
        self.assertEqual((bob.may_subscribe("x"), bob.may_publish("x")), (True, False))


class DescribeTests(SynchronousTestCase):
    def test_users_default_and_anonymous(self) -> None:
        listed = acl(EXAMPLE + "[users.bob]\n")
        self.assertEqual(listed.describe(), "2 users, a default and an anonymous section")

    def test_one_user_and_a_default(self) -> None:
        listed = acl('[default]\n[users.alice]')
        self.assertEqual(listed.describe(), "1 user, a default section")

    def test_nothing(self) -> None:
        self.assertEqual(acl("").describe(), "no users, no default or anonymous section")


class BadFileTests(SynchronousTestCase):
    """
    An access list that cannot be used is refused with one line naming the
    file, the key and what is wrong.
    """

    def refused(self, text: str) -> str:
        return str(self.assertRaises(AccessListError, acl, text))

    def test_error_is_a_value_error(self) -> None:
        self.assertTrue(issubclass(AccessListError, ValueError))

    def test_unknown_top_level_key(self) -> None:
        message = self.refused('[groups.ops]\npublish = { allow = [".*"] }')
        self.assertTrue(message.startswith("acl.toml: groups: "), message)

    def test_unknown_top_level_value(self) -> None:
        self.assertTrue(self.refused("stats = true").startswith("acl.toml: stats: "))

    def test_unknown_section_key(self) -> None:
        message = self.refused('[users.alice]\npublsh = { allow = [".*"] }')
        self.assertTrue(message.startswith("acl.toml: users.alice.publsh: "), message)

    def test_unknown_rule_key(self) -> None:
        message = self.refused('[default]\npublish = { allwo = [".*"] }')
        self.assertTrue(message.startswith("acl.toml: default.publish.allwo: "), message)

    def test_section_not_a_table(self) -> None:
        self.assertEqual(
            self.refused('default = "everything"'),
            "acl.toml: default: must be a table, not a string",
        )

    def test_users_not_a_table(self) -> None:
        self.assertEqual(
            self.refused('users = ["alice"]'), "acl.toml: users: must be a table, not an array"
        )

    def test_user_not_a_table(self) -> None:
        self.assertEqual(
            self.refused("[users]\nalice = 1"),
            "acl.toml: users.alice: must be a table, not an integer",
        )

    def test_rule_not_a_table(self) -> None:
        self.assertEqual(
            self.refused('[default]\npublish = [".*"]'),
            "acl.toml: default.publish: must be a table, not an array",
        )

    def test_pattern_list_not_an_array(self) -> None:
        self.assertEqual(
            self.refused('[default]\npublish = { allow = ".*" }'),
            "acl.toml: default.publish.allow: must be an array, not a string",
        )

    def test_pattern_not_a_string(self) -> None:
        self.assertEqual(
            self.refused('[anonymous]\nsubscribe = { deny = ["a", 2] }'),
            "acl.toml: anonymous.subscribe.deny[1]: must be a string, not an integer",
        )

    def test_stats_not_a_boolean(self) -> None:
        self.assertEqual(
            self.refused("[default]\nstats = 1"),
            "acl.toml: default.stats: must be a boolean, not an integer",
        )

    def test_bad_pattern(self) -> None:
        message = self.refused('[users.alice]\npublish = { allow = ["orders["] }')
        self.assertTrue(
            message.startswith(
                "acl.toml: users.alice.publish.allow: "
                "'orders[' is not a pattern RE2 accepts: missing ]"
            ),
            message,
        )

    def test_pattern_RE2_does_not_have(self) -> None:
        message = self.refused('[default]\nsubscribe = { deny = ["(a)\\\\1"] }')
        self.assertTrue(
            message.startswith("acl.toml: default.subscribe.deny: '(a)\\\\1' is not a pattern"),
            message,
        )

    def test_patterns_too_large_for_RE2s_memory(self) -> None:
        self.patch(permissions, "SET_MEMORY_BYTES", 64 << 10)
        self.assertEqual(
            self.refused('[default]\npublish = { allow = ["[a-z]{1000}"] }'),
            "acl.toml: default.publish.allow: "
            "the patterns need more than 0.0625 MiB of RE2's memory",
        )

    def test_quoted_user_name_is_quoted_in_errors(self) -> None:
        message = self.refused('[users."bob.smith"]\nstats = "yes"')
        self.assertEqual(
            message, 'acl.toml: users."bob.smith".stats: must be a boolean, not a string'
        )

    def test_bad_toml(self) -> None:
        message = self.refused("[default\n")
        self.assertTrue(message.startswith("acl.toml: not valid TOML: "), message)
        self.assertNotIn("\n", message)

    def test_default_name_of_the_file(self) -> None:
        error = self.assertRaises(AccessListError, AccessList.from_text, "x = 1")
        self.assertTrue(str(error).startswith("<acl>: x: "), str(error))


class LoadTests(SynchronousTestCase):
    """
    L{AccessList.load} reads a file.
    """

    def setUp(self) -> None:
        self.folder = tempfile.mkdtemp(prefix="eventd-acl-")
        self.addCleanup(shutil.rmtree, self.folder)

    def path(self) -> str:
        return os.path.join(self.folder, "acl.toml")

    def write(self, content: bytes) -> str:
        path = self.path()
        with open(path, "wb") as f:
            f.write(content)
        return path

    def test_load_reads_the_file(self) -> None:
        path = self.write(EXAMPLE.encode("utf-8"))
        self.assertTrue(AccessList.load(path).grants_for("alice").may_read_stats)

    def test_errors_name_the_path(self) -> None:
        path = self.write(b"[default]\nstats = 1\n")
        error = self.assertRaises(AccessListError, AccessList.load, path)
        self.assertEqual(str(error), f"{path}: default.stats: must be a boolean, not an integer")

    def test_missing_file(self) -> None:
        path = self.path()
        error = self.assertRaises(AccessListError, AccessList.load, path)
        self.assertEqual(str(error), f"{path}: cannot read it: No such file or directory")

    def test_directory_is_not_a_file(self) -> None:
        path = self.path()
        os.mkdir(path)
        error = self.assertRaises(AccessListError, AccessList.load, path)
        self.assertTrue(str(error).startswith(f"{path}: cannot read it: "), str(error))

    def test_not_utf8(self) -> None:
        path = self.write(b'[default]\n# caf\xe9\n')
        error = self.assertRaises(AccessListError, AccessList.load, path)
        self.assertTrue(str(error).startswith(f"{path}: not UTF-8 text"), str(error))

    def test_bad_toml_names_the_path(self) -> None:
        path = self.write(b"[default\n")
        error = self.assertRaises(AccessListError, AccessList.load, path)
        self.assertTrue(str(error).startswith(f"{path}: not valid TOML: "), str(error))
