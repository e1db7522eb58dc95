"""
Mutual TLS on the server's C{ssl:} ports, over real loopback sockets with
certificates made by the test (trustme): clients asked for a certificate
from the client CA, refused without one when it is required, and named by
the commonName of the one they offer.
"""

import os
import shutil
import tempfile
from pathlib import Path
from typing import Optional

import trustme
from OpenSSL import SSL
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import SSL4ServerEndpoint, connectProtocol, quoteStringArgument
from twisted.internet.error import ConnectionDone
from twisted.internet.interfaces import IHandshakeListener
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactor
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase, TestCase
from zope.interface import implementer

from eventd.client.endpoints import client_endpoint
from eventd.server.tls import certificate_user, tls_server_endpoint
from tests.servers import WAIT, TLSFiles, within


class ClientCertificates:
    """
    A CA for clients and the certificates it issues, made for one test and
    written to its temporary folder.

    @ivar ca: the PEM file of the CA's certificate, which the server trusts.
    """

    def __init__(self, testcase: TestCase) -> None:
        self._folder = Path(tempfile.mkdtemp(prefix="eventd-clients-"))
        testcase.addCleanup(shutil.rmtree, self._folder, True)
        self._authority = trustme.CA()
        self.ca = str(self._folder / "ca.pem")
        self._authority.cert_pem.write_to_path(self.ca)

    def issue(self, name: str) -> str:
        """
        The C{tls:} arguments that present a certificate for C{name} (its
        commonName) and its key, each in its own file.
        """
        issued = self._authority.issue_cert(common_name=name)
        certificate, key = self._folder / f"{name}.crt", self._folder / f"{name}.key"
        issued.cert_chain_pems[0].write_to_path(str(certificate))
        issued.private_key_pem.write_to_path(str(key))
        return f":certificate={certificate}:privateKey={key}"


@implementer(IHandshakeListener)
class UserRecorder(Protocol):
    """
    The server's side: records the user its client's certificate names,
    once the handshake is done, and hangs up.
    """

    def __init__(self, users: list, ended: Deferred) -> None:
        self._users, self._ended = users, ended

    def handshakeCompleted(self) -> None:
        self._users.append(certificate_user(self.transport))
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure) -> None:
        self._ended.callback(None)


class UserRecorders(Factory):
    """
    L{UserRecorder}s, with the users they recorded (in order) and a
    Deferred per connection that fires when it has ended.
    """

    def __init__(self) -> None:
        self.users: list = []
        self.ended: list[Deferred] = []

    def buildProtocol(self, addr: object) -> UserRecorder:
        self.ended.append(Deferred())
        return UserRecorder(self.users, self.ended[-1])


class Client(Protocol):
    """
    A client that waits for the server to hang up: C{ended} fires when it
    has, and C{reason} is why.
    """

    def __init__(self) -> None:
        self.ended: Deferred = Deferred()
        self.reason: Optional[Failure] = None

    def connectionLost(self, reason: Failure) -> None:
        self.reason = reason
        self.ended.callback(None)


class MutualTLSTestCase(TestCase):
    """
    A port of L{tls_server_endpoint} with L{UserRecorders} behind it,
    closed with its connections when the test ends.
    """

    timeout = 60
    required = True

    async def setUp(self) -> None:
        self.files = TLSFiles(self)
        self.clients = ClientCertificates(self)
        self.recorders = UserRecorders()
        endpoint = tls_server_endpoint(reactor, self.files.listen, self.clients.ca, self.required)
        port = await endpoint.listen(self.recorders)
        self.addCleanup(port.stopListening)
        self.addCleanup(lambda: within(gatherResults(self.recorders.ended), WAIT))
        self.port = port.getHost().port

    async def connect(self, certificate: str = "") -> Failure:
        """
        Connect, offering the certificate C{certificate} names (the
        arguments of L{ClientCertificates.issue}) or none, and wait for
        the connection to end.

        @return: why it ended.
        """
        description = f"tls:127.0.0.1:{self.port}{certificate}"
        client = Client()
        endpoint = client_endpoint(reactor, description, ca=self.files.ca)
        await within(connectProtocol(endpoint, client), WAIT)
        await within(client.ended, WAIT)
        return client.reason

    def assertAccepted(self, reason: Failure, user: object) -> None:
        """The server completed the handshake, found C{user} and hung up."""
        self.assertIsNotNone(reason.check(ConnectionDone), reason)
        self.assertEqual(self.recorders.users, [user])

    def assertRefused(self, reason: Failure) -> None:
        """The handshake failed: the server never saw it complete."""
        self.assertIsNotNone(reason.check(SSL.Error), reason)
        self.assertEqual(self.recorders.users, [])


class RequiredClientCertificateTests(MutualTLSTestCase):
    async def test_a_certificate_from_the_client_ca_names_the_user(self):
        self.assertAccepted(await self.connect(self.clients.issue("alice")), "alice")

    async def test_a_client_without_a_certificate_is_refused(self):
        self.assertRefused(await self.connect())

    async def test_a_certificate_from_another_ca_is_refused(self):
        self.assertRefused(await self.connect(ClientCertificates(self).issue("mallory")))


class OptionalClientCertificateTests(MutualTLSTestCase):
    required = False

    async def test_a_client_without_a_certificate_has_no_user(self):
        self.assertAccepted(await self.connect(), None)

    async def test_a_certificate_from_the_client_ca_names_the_user(self):
        self.assertAccepted(await self.connect(self.clients.issue("bob")), "bob")

    async def test_a_certificate_from_another_ca_is_still_refused(self):
        self.assertRefused(await self.connect(ClientCertificates(self).issue("mallory")))


class CertificateUserTests(SynchronousTestCase):
    def test_a_transport_without_tls_has_no_user(self):
        self.assertIsNone(certificate_user(object()))


class SettingsTests(SynchronousTestCase):
    def setUp(self):
        self.files = TLSFiles(self)

    def refusal(self, description: str, client_ca: str = "") -> str:
        """The message of the ValueError L{tls_server_endpoint} raises."""
        error = self.assertRaises(
            ValueError,
            tls_server_endpoint,
            MemoryReactor(),
            description,
            client_ca or self.files.ca,
            True,
        )
        return str(error)

    def file_of(self, content: bytes) -> str:
        """The path of a new file holding C{content}, removed when the test ends."""
        descriptor, path = tempfile.mkstemp(suffix=".pem")
        self.addCleanup(os.remove, path)
        os.write(descriptor, content)
        os.close(descriptor)
        return path

    def test_positional_arguments_are_named_as_twisted_names_them(self):
        description = f"ssl:0:{quoteStringArgument(self.files.server)}"
        endpoint = tls_server_endpoint(MemoryReactor(), description, self.files.ca, True)
        self.assertIsInstance(endpoint, SSL4ServerEndpoint)

    def test_a_ca_file_that_is_missing_is_named(self):
        self.assertEqual(
            self.refusal(self.files.listen, "/nonexistent/ca.pem"),
            "cannot read the client CA file /nonexistent/ca.pem: No such file or directory",
        )

    def test_a_ca_file_without_certificates_is_named(self):
        path = self.file_of(b"not a certificate\n")
        self.assertEqual(
            self.refusal(self.files.listen, path),
            f"the client CA file {path} holds no PEM certificate",
        )

    def test_a_key_file_that_is_missing_is_named(self):
        description = f"ssl:0:privateKey=/nonexistent/key.pem:certKey={self.files.server}"
        self.assertEqual(
            self.refusal(description),
            "cannot read the server key /nonexistent/key.pem: No such file or directory",
        )

    def test_a_key_and_certificate_file_that_is_missing_is_named(self):
        self.assertEqual(
            self.refusal("ssl:0:privateKey=/nonexistent/server.pem"),
            "cannot read the server certificate and key /nonexistent/server.pem: "
            "No such file or directory",
        )

    def test_a_certificate_without_its_key_is_named(self):
        self.assertIn(
            f"the server certificate {self.files.ca} and its key are not a PEM pair",
            self.refusal(f"ssl:0:privateKey={self.files.ca}"),
        )

    def test_diffie_hellman_parameters_openssl_refuses_are_told_at_once(self):
        path = self.file_of(b"not parameters\n")
        self.assertIn(
            "OpenSSL refuses these TLS settings",
            self.refusal(f"{self.files.listen}:dhParameters={path}"),
        )

    def test_an_argument_twisted_does_not_take_is_refused(self):
        self.assertIn(
            "an ssl: endpoint takes a port and only privateKey, certKey",
            self.refusal(f"{self.files.listen}:verify=yes"),
        )

    def test_a_description_that_is_not_ssl_is_refused(self):
        self.assertEqual(
            self.refusal("tcp:7766"),
            "'tcp:7766': client certificates are asked for on ssl: ports only",
        )
