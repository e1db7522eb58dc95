"""
Addresses as text: the banner's URI and peer names.
"""

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.endpoints import clientFromString
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase

from eventd.wire.addresses import client_endpoint_for, peer_name


class ClientEndpointTests(SynchronousTestCase):
    def test_ipv4(self):
        uri = client_endpoint_for(IPv4Address("TCP", "127.0.0.1", 40213))
        self.assertEqual(uri, "tcp:127.0.0.1:40213")

    def test_ipv6_colons_are_escaped_and_the_string_parses_back(self):
        uri = client_endpoint_for(IPv6Address("TCP", "::1", 7766))
        self.assertEqual(uri, r"tcp:\:\:1:7766")
        reactor = MemoryReactor()
        clientFromString(reactor, uri).connect(Factory())
        [(host, port, *_)] = reactor.tcpClients
        self.assertEqual((host, port), ("::1", 7766))

    def test_unix(self):
        uri = client_endpoint_for(UNIXAddress(b"/run/eventd:1.sock"))
        self.assertEqual(uri, r"unix:/run/eventd\:1.sock")

    def test_an_address_no_client_reaches_is_refused(self):
        self.assertRaises(ValueError, client_endpoint_for, object())


class PeerNameTests(SynchronousTestCase):
    def test_names(self):
        self.assertEqual(peer_name(IPv4Address("TCP", "10.0.0.1", 5)), "10.0.0.1:5")
        self.assertEqual(peer_name(IPv6Address("TCP", "::1", 5)), "[::1]:5")
        self.assertEqual(peer_name(UNIXAddress(None)), "unix")
