"""
Endpoint strings made into endpoints, a CA file for C{tls:} ones.
"""

import os
import tempfile

from twisted.internet.endpoints import TCP4ClientEndpoint
from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase

from eventd.client.endpoints import _arguments, client_endpoint
from tests.servers import TLSFiles


class ArgumentTests(SynchronousTestCase):
    def test_positional_and_named_arguments_with_escapes(self):
        self.assertEqual(
            _arguments(r"\:\:1:7767:timeout=5:certificate=/a\:b.pem"),
            (["::1", "7767"], {"timeout": "5", "certificate": "/a:b.pem"}),
        )


class ClientEndpointTests(SynchronousTestCase):
    def test_without_a_ca_the_string_is_twisteds(self):
        endpoint = client_endpoint(MemoryReactor(), "tcp:127.0.0.1:7766")
        self.assertIsInstance(endpoint, TCP4ClientEndpoint)

    def test_an_argument_that_cannot_go_with_a_ca_is_named(self):
        files = TLSFiles(self)
        error = self.assertRaises(
            ValueError, client_endpoint, MemoryReactor(), "tls:h:1:trustRoots=/etc/ssl", files.ca
        )
        self.assertIn("only timeout, certificate, privateKey", str(error))

    def test_a_file_without_certificates_is_named(self):
        descriptor, path = tempfile.mkstemp(suffix=".pem")
        self.addCleanup(os.remove, path)
        os.write(descriptor, b"not a certificate\n")
        os.close(descriptor)
        error = self.assertRaises(ValueError, client_endpoint, MemoryReactor(), "tls:h:1", path)
        self.assertEqual(str(error), f"the CA file {path} holds no PEM certificate")

    def test_the_environment_names_the_ca_when_the_caller_does_not(self):
        self.patch(os, "environ", {**os.environ, "EVENTD_CA": "/nonexistent/ca.pem"})
        error = self.assertRaises(ValueError, client_endpoint, MemoryReactor(), "tls:h:1")
        self.assertIn("/nonexistent/ca.pem", str(error))

    def test_a_client_certificate_without_its_key_is_named(self):
        files = TLSFiles(self)
        error = self.assertRaises(
            ValueError, client_endpoint, MemoryReactor(), f"tls:h:1:certificate={files.ca}", files.ca
        )
        self.assertIn(f"the client certificate {files.ca} and its key", str(error))
