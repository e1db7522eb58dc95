"""
TLS for real: C{twistd -n eventd --listen ssl:...} with certificates made
by the test (trustme), its banner's C{tls:} URI, and clients that verify the
server, the command line included.
"""

from twisted.internet.error import ConnectError
from twisted.trial.unittest import TestCase

from tests.cli.commands import run, start
from tests.servers import WAIT, TLSFiles, connected, raw_peer, round_trip, run_server, within


class TLSTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.files = TLSFiles(self)
        self.server = await run_server(self, "--listen", self.files.listen)

    def test_the_banner_names_a_tls_uri(self):
        self.assertRegex(self.server.uri, r"^tls:127\.0\.0\.1:\d+$")

    async def test_a_client_given_the_ca_publishes_and_subscribes(self):
        await round_trip(self, self.server.uri, ca=self.files.ca)

    async def test_a_client_trusting_another_ca_is_refused(self):
        failure = None
        try:
            await connected(self, self.server.uri, ca=self.files.another_ca())
        except Exception as e:
            failure = e
        self.assertIsNotNone(failure)
        self.assertNotIsInstance(failure, ConnectError)  # reached, then refused
        self.assertIn("certificate verify failed", str(failure))

    async def test_the_command_line_publishes_subscribes_and_exits_over_tls(self):
        sub = start(self, "sub", "tls.news", "--count", "1", "--server", self.server.uri,
                    "--ca", self.files.ca)
        publisher = await connected(self, self.server.uri, ca=self.files.ca)
        while not sub.ended:  # until the sub has subscribed and got one
            pub = await run(self, "pub", "tls.news", '"hi"', "--server", self.server.uri,
                            "--ca", self.files.ca)
            self.assertEqual((pub.exit_code, pub.stderr), (0, b""), pub)
            await within(publisher.stats(), WAIT)
        await within(sub.when_ended(), WAIT)
        self.assertEqual((sub.exit_code, sub.stderr), (0, b""), sub)
        self.assertTrue(sub.lines[0].endswith(' tls.news "hi"'), sub.lines)

    async def test_a_ca_file_that_is_missing_is_one_line(self):
        pub = await run(self, "pub", "x", "1", "--server", self.server.uri, "--ca", "/nonexistent.pem")
        self.assertEqual(pub.exit_code, 1)
        self.assertEqual(
            pub.stderr.decode().strip(),
            f"eventd: bad server endpoint {self.server.uri!r}: cannot read the CA file "
            "/nonexistent.pem: No such file or directory",
        )



class TLSGoodbyeTests(TestCase):
    timeout = 60

    async def test_a_connection_refused_before_its_handshake_is_told_why(self):
        """
        One connection too many is told so at once, before the TLS
        handshake is done: the Goodbye must still reach it, inside TLS,
        before the connection closes.
        """
        files = TLSFiles(self)
        server = await run_server(self, "--listen", files.listen, "--max-connections", "1")
        await connected(self, server.uri, ca=files.ca)
        extra = await raw_peer(self, server.uri, ca=files.ca)
        await within(extra.closed, WAIT)
        self.assertEqual(extra.goodbye(), "MAX_CONNECTIONS")
