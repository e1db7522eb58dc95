"""
C{eventd passwd FILE USER} as operators run it: the real command as a child
process, its password piped in or typed at a pseudo-terminal, and the file
it writes read back by the server's own L{UsersFile}.
"""

import os
import shutil
import stat
import tempfile

from scramp import ScramException
from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from eventd.server.users import UsersFile, scram_entry
from tests.cli.commands import CHILD_ENV, EVENTD, Command, run
from tests.server.test_users import log_in
from tests.servers import WAIT, within

PASSWORD = "Tr0ub4dor&3-zebra"
"""Distinctive enough that finding it anywhere is a leak."""

BOB = scram_entry("bob", "bob's password")
KEPT = ["# eventd users\n", "\n", f"{BOB}\n", "  # alice is next\n"]
"""Lines around alice's that every change to alice must keep."""


def on_terminal(testcase: TestCase, *args: str) -> Command:
    """
    Start C{eventd *args} on a pseudo-terminal of its own (its controlling
    terminal, as a login shell's would be), killed when the test ends if
    still running; all it writes arrives as its stdout.
    """
    command = Command(None)
    reactor.spawnProcess(
        command, EVENTD, [EVENTD, *args], env=CHILD_ENV, path="/", usePTY=True
    )
    testcase.addCleanup(command.stop)
    return command


async def answer(command: Command, prompt: bytes, text: bytes) -> None:
    """Wait for the C{prompt}'th appearance, then type C{text} and Enter."""
    count = command.stdout.count(prompt) + 1
    await within(command.when(lambda: command.stdout.count(prompt) >= count), WAIT)
    command.transport.write(text + b"\n")


class PasswdTests(TestCase):
    timeout = 60

    def setUp(self):
        folder = tempfile.mkdtemp(prefix="eventd-passwd-")
        self.addCleanup(shutil.rmtree, folder)
        self.path = os.path.join(folder, "users.txt")

    def write(self, lines: list[str], mode: int = 0o600) -> None:
        with open(self.path, "w") as file:
            file.writelines(lines)
        os.chmod(self.path, mode)

    def read(self) -> list[str]:
        with open(self.path) as file:
            return file.readlines()

    def mode(self) -> int:
        return stat.S_IMODE(os.stat(self.path).st_mode)

    def assertRefused(self, command: Command, code: int = 1) -> None:
        """Refused with C{code} and one line on stderr naming the command."""
        self.assertEqual(command.exit_code, code, command)
        self.assertEqual(command.stdout, b"", command)
        self.assertEqual(command.stderr.count(b"\n"), 1, command)
        if code == 1:
            self.assertTrue(command.stderr.startswith(b"eventd passwd: "), command)

    async def test_a_piped_password_creates_a_private_file_that_logs_in(self):
        command = await run(self, "passwd", self.path, "alice", stdin=f"{PASSWORD}\n".encode())
        self.assertEqual((command.exit_code, command.stdout, command.stderr),
                         (0, b"", b"added alice\n"))
        self.assertEqual(self.mode(), 0o600)
        users = UsersFile.load(self.path)
        self.assertEqual(users.names, ("alice",))
        log_in(users, "alice", PASSWORD)
        self.assertRaises(ScramException, log_in, users, "alice", PASSWORD + "\n")
        self.assertNotIn(PASSWORD, "".join(self.read()))

    async def test_only_the_first_line_of_stdin_is_the_password(self):
        stdin = f"{PASSWORD}\nsecond line\n".encode()
        command = await run(self, "passwd", self.path, "alice", stdin=stdin)
        self.assertEqual(command.exit_code, 0, command)
        log_in(UsersFile.load(self.path), "alice", PASSWORD)

    async def test_a_new_user_is_added_after_every_other_line(self):
        self.write(KEPT[:-1] + [KEPT[-1].rstrip("\n")])
        command = await run(self, "passwd", self.path, "alice", stdin=b"pw\n")
        self.assertEqual(command.stderr, b"added alice\n", command)
        lines = self.read()
        self.assertEqual(lines[:-1], KEPT)
        self.assertTrue(lines[-1].startswith("alice:SCRAM-SHA-256$4096:"), lines)

    async def test_replacing_a_user_keeps_every_other_line_in_place(self):
        self.write([*KEPT, f"{scram_entry('alice', 'old')}\n", "# the end\n"])
        command = await run(self, "passwd", self.path, "alice", stdin=f"{PASSWORD}\n".encode())
        self.assertEqual((command.exit_code, command.stderr), (0, b"replaced alice\n"), command)
        lines = self.read()
        self.assertEqual(lines[:4] + lines[5:], [*KEPT, "# the end\n"])
        users = UsersFile.load(self.path)
        log_in(users, "alice", PASSWORD)
        log_in(users, "bob", "bob's password")
        self.assertRaises(ScramException, log_in, users, "alice", "old")

    async def test_delete_removes_the_user_only(self):
        self.write([*KEPT, f"{scram_entry('alice', 'pw')}\n"])
        command = await run(self, "passwd", "--delete", self.path, "bob")
        self.assertEqual((command.exit_code, command.stderr), (0, b"deleted bob\n"), command)
        lines = self.read()
        self.assertEqual(lines[:3], ["# eventd users\n", "\n", "  # alice is next\n"])
        self.assertEqual(UsersFile.load(self.path).names, ("alice",))

    async def test_deleting_an_absent_user_is_refused(self):
        self.write(KEPT)
        command = await run(self, "passwd", "--delete", self.path, "alice")
        self.assertRefused(command)
        self.assertIn(b"no user alice", command.stderr)
        self.assertEqual(self.read(), KEPT)

    async def test_an_empty_password_is_refused(self):
        for stdin in (b"\n", b""):
            command = await run(self, "passwd", self.path, "alice", stdin=stdin)
            self.assertRefused(command)
            self.assertFalse(os.path.exists(self.path))

    async def test_too_few_iterations_are_a_usage_error(self):
        command = await run(
            self, "passwd", "--iterations", "4095", self.path, "alice", stdin=b"pw\n"
        )
        self.assertEqual(command.exit_code, 2, command)
        self.assertIn(b"--iterations: must be a whole number from 4096", command.stderr)
        self.assertFalse(os.path.exists(self.path))

    async def test_more_iterations_are_written(self):
        command = await run(
            self, "passwd", "--iterations", "5000", self.path, "alice", stdin=b"pw\n"
        )
        self.assertEqual(command.exit_code, 0, command)
        self.assertEqual(UsersFile.load(self.path).auth_info("alice")[3], 5000)

    async def test_a_bad_user_name_is_a_usage_error(self):
        command = await run(self, "passwd", self.path, "al:ice", stdin=b"pw\n")
        self.assertEqual(command.exit_code, 2, command)
        self.assertIn(b"may not contain ':'", command.stderr)
        self.assertFalse(os.path.exists(self.path))

    async def test_a_world_readable_file_becomes_private(self):
        self.write(KEPT, mode=0o644)
        command = await run(self, "passwd", self.path, "alice", stdin=b"pw\n")
        self.assertEqual(command.exit_code, 0, command)
        self.assertEqual(self.mode(), 0o600)

    async def test_a_stricter_mode_is_kept(self):
        self.write(KEPT, mode=0o400)
        command = await run(self, "passwd", self.path, "alice", stdin=b"pw\n")
        self.assertEqual(command.exit_code, 0, command)
        self.assertEqual(self.mode(), 0o400)

    async def test_a_symbolic_link_stays_one(self):
        self.write(KEPT)
        link = self.path + ".link"
        os.symlink(self.path, link)
        command = await run(self, "passwd", link, "alice", stdin=b"pw\n")
        self.assertEqual(command.exit_code, 0, command)
        self.assertTrue(os.path.islink(link))
        self.assertIn("alice", UsersFile.load(self.path))

    async def test_a_file_the_server_would_refuse_is_left_alone(self):
        broken = scram_entry("carol", "pw").replace("$4096:", "$1000:")
        self.write([*KEPT, broken + "\n"])
        command = await run(self, "passwd", self.path, "alice", stdin=b"pw\n")
        self.assertRefused(command)
        self.assertIn(f"{self.path} line 5: ".encode(), command.stderr)
        self.assertNotIn(broken.split("$", 2)[2].encode(), command.stderr)
        self.assertEqual(self.read(), [*KEPT, broken + "\n"])
        self.assertEqual(
            sorted(os.listdir(os.path.dirname(self.path))), [os.path.basename(self.path)]
        )

    async def test_on_a_terminal_the_password_is_asked_twice(self):
        command = on_terminal(self, "passwd", self.path, "alice")
        await answer(command, b"Password: ", PASSWORD.encode())
        await answer(command, b"Again: ", PASSWORD.encode())
        await within(command.when_ended(), WAIT)
        self.assertEqual(command.exit_code, 0, command)
        self.assertIn(b"added alice", command.stdout)
        self.assertNotIn(PASSWORD.encode(), command.stdout)
        log_in(UsersFile.load(self.path), "alice", PASSWORD)

    async def test_on_a_terminal_two_different_answers_are_refused(self):
        command = on_terminal(self, "passwd", self.path, "alice")
        await answer(command, b"Password: ", PASSWORD.encode())
        await answer(command, b"Again: ", b"something else")
        await within(command.when_ended(), WAIT)
        self.assertEqual(command.exit_code, 1, command)
        self.assertIn(b"eventd passwd: the passwords do not match\r\n", command.stdout)
        self.assertNotIn(PASSWORD.encode(), command.stdout)
        self.assertFalse(os.path.exists(self.path))

    async def test_on_a_terminal_an_empty_password_is_refused(self):
        command = on_terminal(self, "passwd", self.path, "alice")
        await answer(command, b"Password: ", b"")
        await answer(command, b"Again: ", b"")
        await within(command.when_ended(), WAIT)
        self.assertEqual(command.exit_code, 1, command)
        self.assertIn(b"eventd passwd: the password is empty\r\n", command.stdout)
        self.assertFalse(os.path.exists(self.path))

    async def test_on_a_terminal_ctrl_c_leaves_quietly(self):
        self.write(KEPT)
        command = on_terminal(self, "passwd", self.path, "alice")
        await within(command.when(lambda: b"Password: " in command.stdout), WAIT)
        command.transport.write(b"\x03")
        await within(command.when_ended(), WAIT)
        self.assertEqual(command.exit_code, 130, command)
        self.assertNotIn(b"Traceback", command.stdout)
        self.assertEqual(self.read(), KEPT)
