"""
L{eventd.server.exposure}: which listening addresses reach beyond this
host; and the options' refusal to listen there without credentials.
(C{systemd:} endpoints are tested with real sockets in test_systemd.)
"""

from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from eventd.server.exposure import exposed_address
from eventd.server.tap import Options


def parsed(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


class LoopbackTests(SynchronousTestCase):
    """Addresses that reach only this host are not exposed."""

    def test_ipv4_loopback(self):
        self.assertIsNone(exposed_address("tcp:1:interface=127.0.0.1"))

    def test_all_of_127_is_loopback(self):
        self.assertIsNone(exposed_address("tcp:1:interface=127.1.2.3"))

    def test_ipv6_loopback_escaped(self):
        self.assertIsNone(exposed_address(r"tcp6:1:interface=\:\:1"))

    def test_localhost_by_name_any_case(self):
        self.assertIsNone(exposed_address("ssl:1:privateKey=k.pem:interface=localhost"))
        self.assertIsNone(exposed_address("tcp:1:interface=LocalHost"))

    def test_named_interface_before_the_port(self):
        self.assertIsNone(exposed_address("tcp:interface=127.0.0.1:port=1"))

    def test_unix_sockets(self):
        self.assertIsNone(exposed_address("unix:/run/eventd.sock"))
        self.assertIsNone(exposed_address("unix:address=/tmp/e.sock:mode=600"))


class ExposedTests(SynchronousTestCase):
    """Anything else is exposed, named by the address it listens on."""

    def test_tcp_without_an_interface_is_every_ipv4_address(self):
        self.assertEqual(exposed_address("tcp:1"), "0.0.0.0")

    def test_tcp6_without_an_interface_is_every_address(self):
        self.assertEqual(exposed_address("tcp6:1"), "::")

    def test_ssl_without_an_interface(self):
        self.assertEqual(exposed_address("ssl:1:privateKey=k.pem"), "0.0.0.0")

    def test_an_interface_beyond_loopback_is_named(self):
        self.assertEqual(exposed_address("tcp:1:interface=10.1.2.3"), "10.1.2.3")
        self.assertEqual(exposed_address("tcp:1:interface=0.0.0.0"), "0.0.0.0")
        self.assertEqual(exposed_address(r"tcp6:1:interface=\:\:"), "::")

    def test_a_host_name_other_than_localhost_counts_as_exposed(self):
        self.assertEqual(
            exposed_address("tcp:1:interface=events.example.com"), "events.example.com"
        )

    def test_an_unknown_scheme_counts_as_exposed(self):
        self.assertEqual(exposed_address("onion:1"), "onion:1")
        self.assertEqual(exposed_address("TCP:1:interface=127.0.0.1"), "TCP:1:interface=127.0.0.1")


class OptionsTests(SynchronousTestCase):
    """
    Without credentials the server refuses to listen beyond this host,
    unless told to admit anybody.
    """

    def test_listening_everywhere_without_credentials_is_refused(self):
        error = self.assertRaises(usage.UsageError, parsed, "--listen", "tcp:0")
        self.assertIn("--allow-anonymous", str(error))
        self.assertIn("0.0.0.0", str(error))

    def test_host_option_everywhere_without_credentials_is_refused(self):
        error = self.assertRaises(usage.UsageError, parsed, "-n", "0.0.0.0", "-p", "0")
        self.assertIn("--allow-anonymous", str(error))

    def test_one_exposed_endpoint_of_several_is_refused(self):
        self.assertRaises(
            usage.UsageError,
            parsed, "--listen", "tcp:0:interface=127.0.0.1", "--listen", "tcp:0",
        )

    def test_allow_anonymous_lets_it_listen(self):
        options = parsed("--listen", "tcp:0", "--allow-anonymous")
        self.assertEqual(options["listen"], ["tcp:0"])
        self.assertFalse(options.security.login_required)

    def test_a_passphrase_lets_it_listen(self):
        options = parsed("--listen", "tcp:0", "--ident", "x")
        self.assertTrue(options.security.login_required)
        self.assertTrue(options.security.accounts.ident)

    def test_loopback_needs_no_credentials(self):
        options = parsed("--listen", "tcp:0:interface=127.0.0.1")
        self.assertFalse(options.security.login_required)

    def test_the_default_listens_on_loopback_without_credentials(self):
        parsed()
