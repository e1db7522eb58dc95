"""
A client given several servers: it reaches the first that answers, and on
losing it fails over to the next and subscribes again there.
"""

import socket

from twisted.internet.defer import fail, succeed
from twisted.internet.error import ConnectionRefusedError
from twisted.internet.protocol import Factory
from twisted.internet.testing import MemoryReactor
from twisted.trial.unittest import SynchronousTestCase, TestCase

from eventd.client import server_address
from eventd.client.endpoints import client_endpoint
from eventd.client.failover import FailoverEndpoint
from eventd.errors import CannotConnect
from tests.cli.commands import run
from tests.servers import WAIT, Collector, connected, serve_in_process, within


class FixedEndpoint:
    """An endpoint that answers every connect the same way, and counts them."""

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.attempts = 0

    def connect(self, factory):
        self.attempts += 1
        if isinstance(self.answer, Exception):
            return fail(self.answer)
        return succeed(self.answer)


class FailoverEndpointTests(SynchronousTestCase):
    def test_the_first_that_answers_is_reached_and_tried_first_next_time(self):
        down, up = FixedEndpoint(ConnectionRefusedError()), FixedEndpoint("protocol")
        endpoint = FailoverEndpoint([down, up], ["a", "b"])
        self.assertEqual(self.successResultOf(endpoint.connect(Factory())), "protocol")
        self.assertEqual((endpoint.current, down.attempts, up.attempts), (1, 1, 1))
        self.successResultOf(endpoint.connect(Factory()))
        self.assertEqual((down.attempts, up.attempts), (1, 2))

    def test_losing_the_current_one_moves_on_round_the_list(self):
        first, second = FixedEndpoint("one"), FixedEndpoint("two")
        endpoint = FailoverEndpoint([first, second], ["a", "b"])
        self.successResultOf(endpoint.connect(Factory()))
        first.answer = ConnectionRefusedError()
        self.assertEqual(self.successResultOf(endpoint.connect(Factory())), "two")
        second.answer = ConnectionRefusedError()
        first.answer = "one again"
        self.assertEqual(self.successResultOf(endpoint.connect(Factory())), "one again")

    def test_none_answering_names_every_one(self):
        endpoint = FailoverEndpoint(
            [FixedEndpoint(ConnectionRefusedError()), FixedEndpoint(OSError("no route"))],
            ["tcp:a:1", "tcp:b:2"],
        )
        failure = self.failureResultOf(endpoint.connect(Factory()), CannotConnect)
        message = failure.getErrorMessage()
        self.assertIn("tcp:a:1: Connection was refused", message)
        self.assertIn("tcp:b:2: no route", message)

    def test_strings_separated_by_whitespace_make_one(self):
        endpoint = client_endpoint(MemoryReactor(), "tcp:127.0.0.1:1 \n tcp:127.0.0.1:2")
        self.assertIsInstance(endpoint, FailoverEndpoint)
        self.assertRaises(ValueError, client_endpoint, MemoryReactor(), "  ")

    def test_server_addresses_as_a_list_or_a_string(self):
        self.assertEqual(server_address(["URI= tcp:a:1", "tcp:b:2"]), "tcp:a:1 tcp:b:2")
        self.assertEqual(server_address("URI= tcp:a:1"), "tcp:a:1")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then let go)."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


class FailoverTests(TestCase):
    """
    Real servers on loopback, in this process: one stopped under a
    subscribed client.
    """

    timeout = 60

    async def test_a_client_fails_over_and_subscribes_again(self):
        first, second = await serve_in_process(self), await serve_in_process(self)
        client = await connected(self, [first.uris[0], second.uris[0]])
        got = Collector()
        await client.subscribe("failover.news", got)
        await first.publish("failover.news", "from the first")
        await within(got.expect(1), WAIT)
        lost = client.when_disconnected()
        await first.stopService()
        await within(lost, WAIT)
        # It subscribes again on the second: publish there until it has one.
        while len(got.messages) < 2:
            await second.publish("failover.news", "from the second")
            await within(client.stats(), WAIT)
        self.assertEqual(got.messages[:2], ["from the first", "from the second"])

    async def test_the_command_line_takes_several_servers(self):
        server = await serve_in_process(self)
        dead = f"tcp:127.0.0.1:{closed_port()}"
        pub = await run(self, "pub", "x", "1", "--server", dead, "--server", server.uris[0])
        self.assertEqual((pub.exit_code, pub.stderr), (0, b""), pub)
        none = await run(self, "pub", "x", "1", "--server", dead, "--server", dead)
        self.assertEqual(none.exit_code, 1)
        [line] = none.stderr.decode().splitlines()
        self.assertIn("no event server answered", line)
