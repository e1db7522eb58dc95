"""
What every networked C{eventd} subcommand shares: finding the server, and
saying in one line when it cannot.
"""

from twisted.trial.unittest import TestCase

from tests.cli.commands import run
from tests.servers import run_server


class UsageTests(TestCase):
    timeout = 90

    async def test_an_unreachable_server_is_one_line_and_status_1(self):
        server = await run_server(self, "-p", "0")
        await server.stop()
        for args in (["pub", "--server", server.uri, "nobody", "1"],
                     ["sub", "--server", server.uri, "nobody"]):
            command = await run(self, *args)
            self.assertEqual(command.exit_code, 1, command)
            errors = command.stderr.decode().splitlines()
            self.assertEqual(len(errors), 1, command)
            self.assertTrue(
                errors[0].startswith(f"eventd: cannot reach the event server at {server.uri}: "),
                errors,
            )

    async def test_sub_needs_a_subject_or_a_pattern(self):
        command = await run(self, "sub", "--server", "tcp:127.0.0.1:1")
        self.assertEqual(command.exit_code, 2, command)
        self.assertIn(b"at least one SUBJECT or --match PATTERN", command.stderr)
