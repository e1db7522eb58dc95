"""
The command line of `twistd eventd` and the service it makes.
"""

import ast
import re
import subprocess
import sys

from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage
from twisted.trial.unittest import SynchronousTestCase

from eventd.server import EventService, WhenFull
from eventd.server.config import DEFAULT_LISTEN
from eventd.server.tap import (
    Options,
    environment_flags,
    environment_variables,
    makeService,
    options_from_environment,
)
from tests.servers import PROJECT


def parsed(*argv: str) -> Options:
    options = Options()
    options.parseOptions(list(argv))
    return options


class OptionsTests(SynchronousTestCase):
    def test_defaults_listen_on_loopback_7766_and_block(self):
        options = parsed()
        self.assertEqual(options["listen"], [DEFAULT_LISTEN])
        self.assertEqual(DEFAULT_LISTEN, "tcp:7766:interface=127.0.0.1")
        config = options.config
        self.assertEqual(
            (config.queue_size, config.when_full, config.max_message_bytes),
            (1000, WhenFull.BLOCK, 1024 * 1024),
        )

    def test_port_zero_replaces_the_default_endpoint(self):
        self.assertEqual(parsed("-p", "0")["listen"], ["tcp:0:interface=127.0.0.1"])

    def test_host_alone_keeps_the_default_port(self):
        self.assertEqual(parsed("-n", "::1")["listen"], [r"tcp:7766:interface=\:\:1"])

    def test_host_and_port_together_make_one_endpoint(self):
        self.assertEqual(
            parsed("--host", "0.0.0.0", "--port", "9000", "--allow-anonymous")["listen"],
            ["tcp:9000:interface=0.0.0.0"],
        )

    def test_listen_repeats_and_adds_to_host_and_port(self):
        options = parsed("--listen", "unix:/tmp/a.sock", "--listen", "tcp:1:interface=127.0.0.3", "-p", "2")
        self.assertEqual(
            options["listen"],
            ["unix:/tmp/a.sock", "tcp:1:interface=127.0.0.3", "tcp:2:interface=127.0.0.1"],
        )

    def test_policy_and_sizes(self):
        config = parsed(
            "--when-full", "drop", "--queue-size", "5", "--max-message-bytes", "10"
        ).config
        self.assertEqual(
            (config.when_full, config.queue_size, config.max_message_bytes),
            (WhenFull.DROP, 5, 10),
        )

    def test_bad_values_are_refused_by_name(self):
        for argv, words in [
            (["--when-full", "maybe"], "--when-full must be one of 'block', 'drop', "),
            (["--queue-size", "0"], "--queue-size must be at least 1"),
            (["--queue-size", "many"], "--queue-size wants a whole number"),
            (["-p", "70000"], "--port must be at most 65535"),
            (["--listen", "nonsense:1"], "--listen 'nonsense:1'"),
            (["--listen", "systemd:domain=INET:index=0"], "passed by systemd"),
            (["--metrics", "nonsense:1"], "--metrics 'nonsense:1'"),
            (["--shutdown-timeout", "-1"], "--shutdown-timeout must be 0 or more"),
        ]:
            error = self.assertRaises(usage.UsageError, parsed, *argv)
            self.assertIn(words, str(error))


class EnvironmentTests(SynchronousTestCase):
    def test_every_option_has_a_variable(self):
        options = options_from_environment(
            {
                "EVENTD_LISTEN": "tcp:1:interface=127.0.0.2 unix:/tmp/e.sock",
                "EVENTD_PORT": "0",
                "EVENTD_QUEUE_SIZE": "7",
                "EVENTD_WHEN_FULL": "drop",
                "EVENTD_MAX_MESSAGE_BYTES": "99",
                "EVENTD_SEND_BUFFER_BYTES": "0",
            }
        )
        self.assertEqual(
            options["listen"],
            ["tcp:1:interface=127.0.0.2", "unix:/tmp/e.sock", "tcp:0:interface=127.0.0.1"],
        )
        config = options.config
        self.assertEqual(
            (config.queue_size, config.when_full, config.max_message_bytes,
             config.send_buffer_bytes),
            (7, WhenFull.DROP, 99, 0),
        )

    def test_each_option_has_a_variable_named_for_it(self):
        self.assertEqual(environment_variables()["EVENTD_SHUTDOWN_TIMEOUT"], "--shutdown-timeout")
        self.assertEqual(len(environment_variables()), len(Options.optParameters))

    def test_the_tac_file_names_every_variable(self):
        docstring = ast.get_docstring(ast.parse((PROJECT / "eventd.tac").read_text()))
        named = set(re.findall(r"EVENTD_[A-Z_]+", docstring))
        self.assertEqual(
            named, {"EVENTD_LISTEN", *environment_variables(), *environment_flags()}
        )

    def test_no_variables_mean_the_defaults(self):
        self.assertEqual(options_from_environment({})["listen"], [DEFAULT_LISTEN])

    def test_a_bad_variable_is_refused(self):
        self.assertRaises(
            usage.UsageError, options_from_environment, {"EVENTD_WHEN_FULL": "never"}
        )


class ServiceTests(SynchronousTestCase):
    def test_make_service_listens_on_every_endpoint(self):
        reactor = MemoryReactorClock()
        service = makeService(
            parsed("--listen", "tcp:1", "--listen", "tcp:2", "--allow-anonymous"), reactor
        )
        self.assertIsInstance(service.getServiceNamed("eventd"), EventService)
        service.startService()
        self.assertEqual([port for port, *_ in reactor.tcpServers], [1, 2])

    def test_importing_the_plugin_imports_no_reactor(self):
        code = (
            "import sys, twisted.plugins.eventd_plugin as p;"
            "print(p.eventd.tapname, 'twisted.internet.reactor' in sys.modules)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        ).stdout
        self.assertEqual(out.split(), ["eventd", "False"])
