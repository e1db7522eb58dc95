"""
C{eventd pub} as users run it, against a real C{twistd -n eventd} server on
a loopback port.
"""

from twisted.trial.unittest import TestCase

from tests.cli.commands import run
from tests.servers import WAIT, Collector, connected, run_server, within


class PubTests(TestCase):
    timeout = 90

    async def setUp(self):
        self.server = await run_server(self, "-p", "0")
        self.subscriber = await connected(self, self.server.uri)

    async def _published(self, subject: str, expected: int, *args: str, stdin=None) -> list:
        """
        Run C{eventd pub --server URI subject *args}, check that it
        succeeds, and return the first C{expected} messages a subscriber got.
        """
        got = Collector(expected)
        await self.subscriber.subscribe(subject, got)
        pub = await run(self, "pub", "--server", self.server.uri, subject, *args, stdin=stdin)
        self.assertEqual((pub.exit_code, pub.stderr), (0, b""), pub)
        return await within(got.done, WAIT)

    async def test_a_json_message_arrives_as_its_decoded_value(self):
        got = await self._published("greeting", 1, '{"to": ["you", 2], "ok": true}')
        self.assertEqual(got, [{"to": ["you", 2], "ok": True}])

    async def test_text_that_is_not_json_arrives_as_a_string(self):
        got = await self._published("greeting", 1, "hello, {world")
        self.assertEqual(got, ["hello, {world"])

    async def test_each_line_of_stdin_is_published_in_order(self):
        stdin = b'1\n"two"\n\nthree and more\n{"n": 4}\n[5]'
        got = await self._published("lines", 5, stdin=stdin)
        # A published blank line would show up in the middle of these.
        self.assertEqual(got, [1, "two", "three and more", {"n": 4}, [5]])
