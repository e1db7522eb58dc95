"""
L{eventd.server.users}: a users file's lines let exactly the right
password log in through scramp, and every bad line is refused with an
error that names its place but never quotes its secret.
"""

import os
import tempfile

from scramp import ScramClient, ScramException, ScramMechanism
from twisted.trial.unittest import SynchronousTestCase

from eventd.server.users import (
    DEFAULT_ITERATIONS,
    UsersFile,
    UsersFileError,
    check_user_name,
    entry_user,
    scram_entry,
)


def log_in(users: UsersFile, user: str, password: str) -> None:
    """
    A whole SCRAM-SHA-256 exchange in memory, between scramp's client and a
    scramp server that knows C{users}.

    @raise ScramException: if the server or the client refuses the other.
    """
    server = ScramMechanism("SCRAM-SHA-256").make_server(users.auth_info)
    client = ScramClient(["SCRAM-SHA-256"], user, password)
    server.set_client_first(client.get_client_first())
    client.set_server_first(server.get_server_first())
    server.set_client_final(client.get_client_final())
    client.set_server_final(server.get_server_final())


ALICE = scram_entry("alice", "correct horse")
BOB = scram_entry("bob", "battery staple", iterations=5000)
SECRET = ALICE.split(":", 1)[1]
"""What must never show in an error: everything after the name."""


def bad(line: str) -> str:
    """The error a users file with C{line} on its third line gives."""
    try:
        UsersFile.from_lines(["# users", BOB, line], "users.txt")
    except UsersFileError as error:
        return str(error)
    raise AssertionError(f"{line!r} was accepted")


class EntryTests(SynchronousTestCase):
    def test_the_right_password_logs_in(self):
        log_in(UsersFile.from_lines([ALICE]), "alice", "correct horse")

    def test_a_wrong_password_is_refused(self):
        users = UsersFile.from_lines([ALICE])
        with self.assertRaises(ScramException) as refused:
            log_in(users, "alice", "correct horse!")
        self.assertIn("invalid-proof", str(refused.exception))

    def test_a_users_own_password_only(self):
        users = UsersFile.from_lines([ALICE, BOB])
        log_in(users, "bob", "battery staple")
        self.assertRaises(ScramException, log_in, users, "bob", "correct horse")

    def test_an_unknown_user_has_no_auth_info(self):
        users = UsersFile.from_lines([ALICE])
        self.assertIsNone(users.auth_info("carol"))
        self.assertIsNone(users.auth_info("Alice"))

    def test_an_unknown_user_cannot_log_in(self):
        with self.assertRaises(ScramException) as refused:
            log_in(UsersFile.from_lines([ALICE]), "carol", "correct horse")
        self.assertIn("unknown-user", str(refused.exception))

    def test_the_line_holds_no_password(self):
        self.assertNotIn("correct", ALICE)
        self.assertNotIn("horse", ALICE)
        self.assertNotIn("\n", ALICE)

    def test_the_line_is_postgresqls_format(self):
        self.assertRegex(
            ALICE,
            r"^alice:SCRAM-SHA-256\$4096:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/]{43}=:"
            r"[A-Za-z0-9+/]{43}=$",
        )

    def test_each_entry_has_a_fresh_salt(self):
        again = scram_entry("alice", "correct horse")
        self.assertNotEqual(again.split("$")[2], ALICE.split("$")[2])

    def test_the_iteration_count_is_kept(self):
        users = UsersFile.from_lines([ALICE, BOB])
        self.assertEqual(users.auth_info("alice")[3], DEFAULT_ITERATIONS)
        self.assertEqual(users.auth_info("bob")[3], 5000)

    def test_too_few_iterations_are_refused(self):
        self.assertRaises(ValueError, scram_entry, "alice", "pw", iterations=4095)

    def test_an_empty_password_is_refused(self):
        self.assertRaises(ValueError, scram_entry, "alice", "")

    def test_a_password_saslprep_refuses_is_a_value_error(self):
        with self.assertRaises(ValueError) as refused:
            scram_entry("alice", "bell\x07")
        self.assertNotIn("bell", str(refused.exception))


class UserNameTests(SynchronousTestCase):
    def test_a_plain_name_is_kept(self):
        self.assertEqual(check_user_name("alice.smith-2@example"), "alice.smith-2@example")

    def test_64_characters_at_most(self):
        check_user_name("a" * 64)
        self.assertRaises(ValueError, check_user_name, "a" * 65)

    def test_what_is_refused_is_named(self):
        for name, why in [
            ("", "empty"),
            ("a:b", "':'"),
            ("a b", "' '"),
            ("a,b", "','"),
            ("a=b", "'='"),
            ("a\tb", "printable ASCII"),
            ("a\x7fb", "printable ASCII"),
            ("élodie", "printable ASCII"),
            ("#admin", "'#'"),
        ]:
            with self.assertRaises(ValueError, msg=name) as refused:
                check_user_name(name)
            self.assertIn(why, str(refused.exception), name)


class FileTests(SynchronousTestCase):
    def test_comments_and_blank_lines_are_skipped(self):
        users = UsersFile.from_lines(
            ["# eventd users\n", "\n", "   \n", f"{ALICE}\n", "  # bob left\n", f"{BOB}\n"]
        )
        self.assertEqual((len(users), users.names), (2, ("alice", "bob")))
        self.assertIn("alice", users)
        self.assertNotIn("# bob left", users)
        self.assertNotIn("carol", users)

    def test_names_are_sorted(self):
        self.assertEqual(UsersFile.from_lines([BOB, ALICE]).names, ("alice", "bob"))

    def test_load_reads_a_file(self):
        folder = tempfile.mkdtemp(prefix="eventd-users-")
        self.addCleanup(os.rmdir, folder)
        path = os.path.join(folder, "users.txt")
        with open(path, "w") as file:
            file.write(f"# users\n{ALICE}\n{BOB}")
        self.addCleanup(os.unlink, path)
        log_in(UsersFile.load(path), "bob", "battery staple")

    def test_an_unreadable_file_is_named(self):
        folder = tempfile.mkdtemp(prefix="eventd-users-")
        self.addCleanup(os.rmdir, folder)
        path = os.path.join(folder, "missing.txt")
        with self.assertRaises(UsersFileError) as refused:
            UsersFile.load(path)
        self.assertIn(path, str(refused.exception))

    def test_entry_user_names_the_user_of_an_entry_only(self):
        self.assertEqual(
            [entry_user(line) for line in [f"{ALICE}\n", "# alice:x\n", " \n"]],
            ["alice", None, None],
        )


class BadLineTests(SynchronousTestCase):
    """
    Each kind of bad line names the file and line 3, says what is wrong,
    and quotes nothing after the user's name.
    """

    def assertRefused(self, line: str, why: str) -> None:
        error = bad(line)
        self.assertTrue(error.startswith("users.txt line 3: "), error)
        self.assertIn(why, error)
        secret = line.split(":", 1)[-1]
        self.assertNotIn(secret, error)
        for salt_or_key in secret.replace("$", ":").split(":")[2:]:
            self.assertNotIn(salt_or_key, error)

    def test_no_colon(self):
        self.assertRefused(ALICE.replace(":", ""), "no ':'")

    def test_wrong_mechanism(self):
        self.assertRefused(ALICE.replace("SCRAM-SHA-256", "SCRAM-SHA-1"), "not a SCRAM-SHA-256")

    def test_a_plain_password(self):
        self.assertRefused("alice:correct horse", "not a SCRAM-SHA-256")

    def test_missing_keys(self):
        self.assertRefused(ALICE.rsplit(":", 1)[0], "ITERATIONS:SALT$STOREDKEY:SERVERKEY")

    def test_bad_base64(self):
        salt = SECRET.split("$")[1].split(":")[1]
        self.assertRefused(ALICE.replace(salt, salt[:-2] + "!!"), "salt is not base64")

    def test_bad_padding(self):
        stored_key = SECRET.split("$")[2].split(":")[0]
        self.assertRefused(ALICE.replace(stored_key, stored_key[:-1]), "StoredKey is not base64")

    def test_a_key_of_the_wrong_length(self):
        server_key = SECRET.rsplit(":", 1)[1]
        self.assertRefused(ALICE.replace(server_key, "AAAA" + server_key), "32 bytes")

    def test_a_short_salt(self):
        salt = SECRET.split("$")[1].split(":")[1]
        self.assertRefused(ALICE.replace(salt, "c2FsdA=="), "salt is shorter")

    def test_too_few_iterations(self):
        self.assertRefused(ALICE.replace("$4096:", "$1000:"), "iteration count must be 4096")

    def test_too_many_iterations(self):
        self.assertRefused(ALICE.replace("$4096:", "$10000001:"), "iteration count")

    def test_a_bad_name(self):
        self.assertRefused("al ice:" + SECRET, "may not contain ' '")

    def test_a_duplicate_user(self):
        self.assertRefused(scram_entry("bob", "other"), "user bob is already on line 2")

    def test_the_first_bad_line_is_named_with_its_file(self):
        with self.assertRaises(UsersFileError) as refused:
            UsersFile.from_lines([ALICE, "\n", "oops\n"])
        self.assertEqual(str(refused.exception), "<users> line 3: no ':' after the user name")
