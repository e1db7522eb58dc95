"""
Servers for tests: a real eventd process, or the service in the test's own
reactor, each on a free loopback port and stopped when the test ends.

EVENTD_TEST_TWISTD names the twistd to run (CI points it at a second,
non-editable install); by default it is the twistd beside this Python.
"""

import os
import re
import select
import shutil
import signal
import socket
import sys
import tempfile
from pathlib import Path
from typing import Optional

import trustme
from twisted.internet import reactor
from twisted.internet.defer import Deferred, TimeoutError, succeed
from twisted.internet.endpoints import (
    TCP4ServerEndpoint,
    clientFromString,
    connectProtocol,
)
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.protocol import ProcessProtocol, Protocol
from twisted.internet.task import deferLater
from twisted.protocols import amp
from twisted.protocols.amp import IBoxReceiver
from twisted.trial.unittest import TestCase
from zope.interface import implementer

from eventd.client import EventClient, connect
from eventd.client.endpoints import client_endpoint
from eventd.server import EventService
from eventd.server.config import ServerConfig
from eventd.server.users import scram_entry

PROJECT = Path(__file__).resolve().parent.parent
TWISTD = os.environ.get("EVENTD_TEST_TWISTD") or str(Path(sys.executable).parent / "twistd")
START_SECONDS = 30
STOP_SECONDS = 15
WAIT = 20
"""Seconds any one wait on an event, an answer or a child may take."""

def _stats_keys() -> tuple[set[str], list[str]]:
    """
    The keys docs/protocol.md gives the Stats answer's JSON object, and
    those of each of its subscribers, in the order of its tables: the
    contract the server's figures are checked against.
    """
    text = (PROJECT / "docs" / "protocol.md").read_text()
    stats = text.split("### Stats (`stats`)", 1)[1].split("\n### ", 1)[0]
    tables = re.findall(r"\| Key +\| JSON type.*?\n\n", stats, re.S)
    totals, subscribers = ([re.match(r"\| `(\w+)`", line).group(1)
                            for line in table.splitlines() if line.startswith("| `")]
                           for table in tables)
    return set(totals), subscribers


TOTAL_KEYS, COLUMNS = _stats_keys()
"""The keys of the Stats answer (docs/protocol.md), and of each of its
subscribers, in order."""

_URI = re.compile(r"URI= (\S+)")


def within(deferred: Deferred, seconds: float) -> Deferred:
    """
    C{deferred}, failing with TimeoutError if it has not fired in time.
    """
    return deferred.addTimeout(seconds, reactor)


class ChildProcess(ProcessProtocol):
    """
    A process a test started: what it printed, and when it ended.

    @ivar output: stdout and stderr as they arrived, interleaved.
    @ivar exit_code: once ended, the exit code (None if a signal ended it).
    """

    def __init__(self) -> None:
        self.output = ""
        self.stdout = ""
        self.stderr = ""
        self.exit_code: Optional[int] = None
        self._ended = False
        self._end_waiters: list[Deferred] = []

    def when_ended(self) -> Deferred:
        """
        A new Deferred that fires with the exit code once the process has
        ended (each caller gets its own, so one timing out and being
        cancelled leaves the others be).
        """
        if self._ended:
            return succeed(self.exit_code)
        waiter: Deferred = Deferred()
        self._end_waiters.append(waiter)
        return waiter

    def outReceived(self, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        self.stdout += text
        self.output += text

    def errReceived(self, data: bytes) -> None:
        text = data.decode("utf-8", "replace")
        self.stderr += text
        self.output += text

    def processEnded(self, reason) -> None:
        self.exit_code = reason.value.exitCode
        self._ended = True
        waiters, self._end_waiters = self._end_waiters, []
        for waiter in waiters:
            waiter.callback(self.exit_code)

    async def stop(self) -> Optional[int]:
        """
        SIGTERM the process (ours, by its PID) and wait for it to end; if it
        has not within L{STOP_SECONDS}, SIGKILL it.
        """
        if self._ended:
            return self.exit_code
        os.kill(self.transport.pid, signal.SIGTERM)
        try:
            return await within(self.when_ended(), STOP_SECONDS)
        except TimeoutError:
            os.kill(self.transport.pid, signal.SIGKILL)
            await within(self.when_ended(), STOP_SECONDS)
            raise


class ServerProcess(ChildProcess):
    """
    A server process, and the URIs its banner printed.

    @ivar started: fires with the URIs once the banner is complete, or fails
        with the output if the process ends first.
    """

    def __init__(self) -> None:
        super().__init__()
        self.uris: list[str] = []
        self.started: Deferred = Deferred()

    def outReceived(self, data: bytes) -> None:
        super().outReceived(data)
        self._check_banner()

    def errReceived(self, data: bytes) -> None:
        super().errReceived(data)
        self._check_banner()

    def _check_banner(self) -> None:
        if not self.started.called and "Event Server started." in self.output:
            self.uris = _URI.findall(self.output)
            self.started.callback(self.uris)

    def processEnded(self, reason) -> None:
        if not self.started.called:
            self.started.errback(RuntimeError(f"server ended early:\n{self.output}"))
        super().processEnded(reason)

    @property
    def uri(self) -> str:
        return self.uris[0]

    @property
    def port(self) -> int:
        return int(self.uri.rsplit(":", 1)[1])


def spawn(
    testcase: TestCase,
    argv: list[str],
    env: Optional[dict] = None,
    process: Optional[ChildProcess] = None,
) -> ChildProcess:
    """
    Run C{argv} in a fresh temporary directory (twistd puts its working
    directory on sys.path: the checkout must not shadow the installed
    package), stopped when the test ends.  C{process} defaults to a
    L{ServerProcess}.
    """
    process = process or ServerProcess()
    workdir = tempfile.mkdtemp(prefix="eventd-test-")
    reactor.spawnProcess(
        process, argv[0], argv, env={**os.environ, **(env or {})}, path=workdir
    )
    testcase.addCleanup(process.stop)
    return process


async def run_python(
    testcase: TestCase, code: str, env: Optional[dict] = None, seconds: float = 60
) -> ChildProcess:
    """
    Run Python code in a child process (a plain, blocking program, as eventd's
    blocking clients are used) and wait for it to end.
    """
    process = spawn(
        testcase, [sys.executable, "-c", code], env=env, process=ChildProcess()
    )
    await within(process.when_ended(), seconds)
    return process


async def run_server(testcase: TestCase, *options: str) -> ServerProcess:
    """
    Start C{twistd -n eventd} with these options (add C{-p 0} for a free
    port) and wait for its banner.
    """
    process = spawn(testcase, [TWISTD, "-n", "--pidfile=", "eventd", *options])
    await within(process.started, START_SECONDS)
    return process


async def serve_in_process(testcase: TestCase, **settings) -> EventService:
    """
    Run the event service in the test's reactor on a free loopback port;
    C{settings} are L{ServerConfig} fields.  Its broker is the test's to
    inspect.
    """
    endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
    service = EventService([endpoint], ServerConfig(**settings), reactor)
    service.startService()
    testcase.addCleanup(service.stopService)
    await service.whenListening()
    return service


async def connected(testcase: TestCase, uri, **options) -> EventClient:
    """
    A client connected to C{uri} (a string or an endpoint), closed when the
    test ends.
    """
    client = await within(connect(uri, **options), START_SECONDS)
    testcase.addCleanup(client.close)
    return client


def silent_port(testcase: TestCase) -> int:
    """
    A loopback port that listens but never answers: its backlog is filled
    by a connection of ours that is never accepted, so the kernel drops
    every further attempt's SYN.  Closed when the test ends.
    """
    silent = socket.socket()
    testcase.addCleanup(silent.close)
    silent.bind(("127.0.0.1", 0))
    silent.listen(0)
    filler = socket.socket()
    testcase.addCleanup(filler.close)
    filler.setblocking(False)
    filler.connect_ex(silent.getsockname())
    select.select([], [filler], [], START_SECONDS)  # connected: at once, on loopback
    return silent.getsockname()[1]


@implementer(IStreamClientEndpoint)
class FixedReceiveBuffer:
    """
    A client endpoint whose sockets keep a fixed kernel receive buffer.

    Linux grows a reader's receive buffer to megabytes on loopback; a slow
    test subscriber's backlog would then sit in its kernel rather than in
    the server's queue, and hide whether the server holds publishers back.
    """

    def __init__(self, uri: str, size: int) -> None:
        self._endpoint = clientFromString(reactor, uri)
        self._size = size
        self.granted: Optional[int] = None
        """The receive buffer the kernel granted (Linux doubles a request)."""

    def connect(self, factory) -> Deferred:
        def fix(protocol):
            handle = protocol.transport.getHandle()
            handle.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._size)
            self.granted = handle.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
            return protocol

        return self._endpoint.connect(factory).addCallback(fix)


class Collector:
    """
    A handler that records the messages it gets and fires L{done} once it
    has C{expected} of them.
    """

    def __init__(self, expected: Optional[int] = None) -> None:
        self.messages: list = []
        self.done: Deferred = Deferred()
        self._expected = expected

    def __call__(self, event) -> None:
        self.messages.append(event.msg)
        self._check()

    def expect(self, count: int) -> Deferred:
        """
        L{done}, which fires once C{count} messages are in (at once if they
        are already): for a count known only later than the handler.
        """
        self._expected = count
        self._check()
        return self.done

    def _check(self) -> None:
        if self._expected is not None and len(self.messages) >= self._expected:
            if not self.done.called:
                self.done.callback(self.messages)


@implementer(IBoxReceiver)
class RawPeer(Protocol):
    """
    A client that speaks raw bytes: it sends what a test writes, and records
    every box the server sends it, until the server closes the connection.

    @ivar closed: fires with the boxes received, once the connection is gone.
    """

    def __init__(self) -> None:
        self.boxes: list[amp.AmpBox] = []
        self.closed: Deferred = Deferred()
        self._parser = amp.BinaryBoxProtocol(self)
        self._waiting: dict[bytes, Deferred] = {}

    def connectionMade(self) -> None:
        self._parser.makeConnection(self.transport)

    def dataReceived(self, data: bytes) -> None:
        self._parser.dataReceived(data)

    def connectionLost(self, reason) -> None:
        self.closed.callback(self.boxes)

    def startReceivingBoxes(self, sender) -> None:
        pass

    def ampBoxReceived(self, box: amp.AmpBox) -> None:
        self.boxes.append(box)
        tag = box.get(amp.ANSWER) or box.get(amp.ERROR)
        if tag in self._waiting:
            self._waiting.pop(tag).callback(box)

    def answered(self, tag: bytes) -> Deferred:
        """Fires with the answer (or error) to the request tagged C{tag}."""
        waiter = self._waiting[tag] = Deferred()
        return waiter

    def stopReceivingBoxes(self, reason) -> None:
        pass

    def goodbye(self) -> Optional[str]:
        """The code of the Goodbye the server sent, if it sent one."""
        codes = [box[b"code"].decode() for box in self.boxes if box.get(amp.COMMAND) == b"goodbye"]
        return codes[0] if codes else None


async def raw_peer(testcase: TestCase, uri: str, ca: Optional[str] = None) -> RawPeer:
    """
    A L{RawPeer} connected to C{uri} (a C{tls:} one verified with C{ca}),
    its connection closed when the test ends.
    """
    endpoint = client_endpoint(reactor, uri, ca)
    peer = await within(connectProtocol(endpoint, RawPeer()), WAIT)

    async def close() -> None:
        if not peer.closed.called:
            peer.transport.abortConnection()
            await within(peer.closed, WAIT)

    testcase.addCleanup(close)
    return peer


async def round_trip(testcase: TestCase, uri, **options) -> None:
    """
    Prove a server at C{uri} works: a client (made with C{options}, as for
    L{connected}) subscribes, publishes, and gets its event back.
    """
    client = await connected(testcase, uri, **options)
    got = Collector(1)
    await client.subscribe("round.trip", got)
    await client.publish("round.trip", "there and back")
    testcase.assertEqual(await within(got.done, WAIT), ["there and back"])


async def eventually(condition, seconds: float = START_SECONDS, interval: float = 0.05):
    """
    Wait until C{condition()} is true, checking every C{interval} seconds,
    for at most C{seconds}: for what gives no event to wait on (a file a
    daemon writes, a process that is not our child).
    """
    checks = int(seconds / interval)
    for _ in range(checks):
        if condition():
            return
        await deferLater(reactor, interval, lambda: None)
    raise TimeoutError(f"still not true after {seconds} seconds: {condition.__doc__ or condition}")


class TLSFiles:
    """
    A certificate authority and a server certificate for 127.0.0.1, made
    for one test (trustme) and written to its temporary folder: no key is
    ever committed.

    @ivar ca: the PEM file of the CA's certificate, which clients trust.
    @ivar server: the PEM file of the server's key and certificate chain.
    @ivar listen: a C{--listen} value serving TLS on a free loopback port.
    """

    def __init__(self, testcase: TestCase) -> None:
        self._folder = folder = Path(tempfile.mkdtemp(prefix="eventd-tls-"))
        testcase.addCleanup(shutil.rmtree, folder, True)
        authority = trustme.CA()
        self.ca = str(folder / "ca.pem")
        self.server = str(folder / "server.pem")
        authority.cert_pem.write_to_path(self.ca)
        authority.issue_cert("127.0.0.1").private_key_and_cert_chain_pem.write_to_path(self.server)
        self.listen = f"ssl:0:interface=127.0.0.1:privateKey={self.server}"

    def another_ca(self) -> str:
        """The PEM file of a CA that vouches for nobody here."""
        path = str(self._folder / "another-ca.pem")
        trustme.CA().cert_pem.write_to_path(path)
        return path


PASSPHRASE = "correct horse battery staple"
"""The --ident passphrase of the tests' servers (made up, like every
secret here: nothing real is ever committed)."""


class SecretFiles:
    """
    A folder of secrets for one test, removed when it ends: the passphrase
    file, a users file and an access list, written at run time.

    @ivar ident: the --ident-file holding L{PASSPHRASE}.
    @ivar passwords: each user's password, and of each the file holding it.
    """

    def __init__(self, testcase: TestCase, users: Optional[dict[str, str]] = None) -> None:
        self._folder = folder = Path(tempfile.mkdtemp(prefix="eventd-secrets-"))
        testcase.addCleanup(shutil.rmtree, folder, True)
        self.ident = self.write("ident", PASSPHRASE + "\n")
        self.passwords = dict(users or {})
        self.password_files = {
            user: self.write(f"{user}.password", password + "\n")
            for user, password in self.passwords.items()
        }
        self.users = self.write(
            "users", "".join(scram_entry(u, p) + "\n" for u, p in self.passwords.items())
        )

    def write(self, name: str, text: str) -> str:
        """Write a file of the folder, readable by its owner only."""
        path = self._folder / name
        path.write_text(text)
        path.chmod(0o600)
        return str(path)
