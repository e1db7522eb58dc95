"""
Several servers on one port: C{--reuse-port}, for real, with processes of
the test's own.
"""

import socket

from twisted.internet import reactor
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import Factory, Protocol
from twisted.trial.unittest import SynchronousTestCase, TestCase

from eventd.server.reuseport import ReusePortEndpoint, reuse_port_endpoint
from eventd.server.tap import Options
from tests.servers import round_trip, run_server


def free_port() -> int:
    """A loopback port free now (bound, then let go)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class EndpointStringTests(SynchronousTestCase):
    def test_a_tcp_string_gives_its_port_interface_and_backlog(self):
        endpoint = reuse_port_endpoint(reactor, "tcp:7766:interface=127.0.0.1:backlog=9")
        self.assertEqual(
            (endpoint._family, endpoint._port, endpoint._interface, endpoint._backlog),
            (socket.AF_INET, 7766, "127.0.0.1", 9),
        )
        six = reuse_port_endpoint(reactor, "tcp6:port=1")
        self.assertEqual((six._family, six._interface), (socket.AF_INET6, "::"))

    def test_other_strings_are_refused_by_name(self):
        for description, words in [
            ("ssl:1:privateKey=k.pem", "tcp: and tcp6: endpoints only"),
            ("tcp:1:sslmethod=x", "takes a port, interface and backlog"),
            ("tcp:many", "must be numbers"),
        ]:
            error = self.assertRaises(ValueError, reuse_port_endpoint, reactor, description)
            self.assertIn(words, str(error))

    def test_the_option_makes_tcp_ports_reuse_and_leaves_others(self):
        from eventd.server.tap import server_endpoint

        options = Options()
        options.parseOptions(["-p", "0", "--reuse-port"])
        self.assertTrue(options["reuse-port"])
        endpoint = server_endpoint(reactor, options["listen"][0], None, True)
        self.assertIsInstance(endpoint, ReusePortEndpoint)
        unix = server_endpoint(reactor, "unix:/tmp/eventd-test.sock", None, True)
        self.assertNotIsInstance(unix, ReusePortEndpoint)


class ListeningTests(TestCase):
    timeout = 30

    async def test_two_ports_share_one_number_and_both_take_connections(self):
        port = free_port()
        factory = Factory.forProtocol(Protocol)
        first = await ReusePortEndpoint(reactor, socket.AF_INET, port, "127.0.0.1", 5).listen(factory)
        self.addCleanup(first.stopListening)
        second = await ReusePortEndpoint(reactor, socket.AF_INET, port, "127.0.0.1", 5).listen(factory)
        self.addCleanup(second.stopListening)
        self.assertEqual((first.getHost().port, second.getHost().port), (port, port))

    async def test_a_port_held_without_reuse_cannot_be_shared(self):
        with socket.socket() as plain:
            plain.bind(("127.0.0.1", 0))
            plain.listen(1)
            port = plain.getsockname()[1]
            endpoint = ReusePortEndpoint(reactor, socket.AF_INET, port, "127.0.0.1", 5)
            with self.assertRaises(CannotListenError):
                await endpoint.listen(Factory.forProtocol(Protocol))


class ProcessesTests(TestCase):
    """
    Two twistd processes on one port: both serve; one stopped, the other
    still does.
    """

    timeout = 90

    async def test_two_servers_share_a_port_and_one_survives_the_other(self):
        port = str(free_port())
        first = await run_server(self, "-p", port, "--reuse-port")
        second = await run_server(self, "-p", port, "--reuse-port")
        self.assertEqual(first.uri, second.uri)
        await round_trip(self, first.uri)
        self.assertEqual(await first.stop(), 0)
        for _ in range(5):  # whichever the kernel picks, it is the second
            await round_trip(self, second.uri)
