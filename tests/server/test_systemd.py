"""
Telling systemd how the server is doing (sd_notify), and running under
systemd's socket activation.

Each test binds the datagram socket that systemd would, and points
NOTIFY_SOCKET at it: the unit tests read it directly, the end-to-end tests
through the reactor while a real twistd runs.
"""

import os
import shutil
import socket
import tempfile
from pathlib import Path
from typing import Optional

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.error import CannotListenError
from twisted.internet.protocol import DatagramProtocol
from twisted.internet.task import Clock
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import LogLevel, globalLogPublisher
from twisted.trial.unittest import SynchronousTestCase, TestCase

from eventd.cli.unitfiles import render_units
from eventd.server.systemd import Notifier, SystemdNotifier, watchdog_seconds
from eventd.server.tap import Options, makeService
from tests.servers import (
    START_SECONDS,
    TWISTD,
    ServerProcess,
    round_trip,
    spawn,
    within,
)

Message = dict[str, str]


def temporary_directory(testcase) -> Path:
    """A fresh directory, removed when the test ends (short enough for AF_UNIX)."""
    path = Path(tempfile.mkdtemp(prefix="eventd-notify-"))
    testcase.addCleanup(shutil.rmtree, path, True)
    return path


def parse(datagram: bytes) -> Message:
    """A notification as systemd reads it: KEY=VALUE lines."""
    return dict(line.split("=", 1) for line in datagram.decode().split("\n"))


class NotifySocket:
    """
    A datagram socket standing where systemd's notify socket would, read
    without waiting: a notification sent is already queued here.
    """

    def __init__(self, testcase: SynchronousTestCase, address: Optional[str] = None) -> None:
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        testcase.addCleanup(self.socket.close)
        if address is None:
            address = str(temporary_directory(testcase) / "notify")
        self.address = address
        self.socket.bind("\0" + address[1:] if address.startswith("@") else address)
        self.socket.setblocking(False)

    def received(self) -> list[Message]:
        """Every notification that arrived since the last call."""
        messages = []
        while True:
            try:
                messages.append(parse(self.socket.recv(4096)))
            except BlockingIOError:
                return messages


class NotifierTests(SynchronousTestCase):
    def test_sends_one_datagram_of_key_value_lines(self):
        systemd = NotifySocket(self)
        notifier = Notifier.from_environment({"NOTIFY_SOCKET": systemd.address})
        self.addCleanup(notifier.close)
        self.assertTrue(notifier.notify(READY="1", STATUS="Listening on tcp:127.0.0.1:1"))
        self.assertEqual(
            systemd.received(), [{"READY": "1", "STATUS": "Listening on tcp:127.0.0.1:1"}]
        )

    def test_an_at_sign_names_a_socket_in_the_abstract_namespace(self):
        systemd = NotifySocket(self, f"@eventd-test-{os.getpid()}-{id(self)}")
        notifier = Notifier.from_environment({"NOTIFY_SOCKET": systemd.address})
        self.addCleanup(notifier.close)
        notifier.notify(WATCHDOG="1")
        self.assertEqual(systemd.received(), [{"WATCHDOG": "1"}])

    def test_a_line_break_in_a_value_cannot_make_a_line_of_its_own(self):
        systemd = NotifySocket(self)
        notifier = Notifier(systemd.address)
        self.addCleanup(notifier.close)
        notifier.notify(STATUS="bad\nREADY=1")
        self.assertEqual(systemd.received(), [{"STATUS": "bad READY=1"}])

    def test_no_notify_socket_means_no_notifier(self):
        self.assertIsNone(Notifier.from_environment({}))
        self.assertIsNone(Notifier.from_environment({"NOTIFY_SOCKET": ""}))

    def test_an_address_of_another_kind_is_refused_with_a_warning(self):
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        self.assertIsNone(Notifier.from_environment({"NOTIFY_SOCKET": "vsock:2:9999"}))
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["log_level"], LogLevel.warn)
        self.assertEqual(events[0]["address"], "vsock:2:9999")

    def test_a_notification_that_cannot_be_sent_is_logged_not_raised(self):
        events = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        missing = str(temporary_directory(self) / "gone")
        notifier = Notifier(missing)
        self.addCleanup(notifier.close)
        self.assertFalse(notifier.notify(READY="1"))
        self.assertEqual(len(events), 1)
        self.assertEqual(events[0]["log_level"], LogLevel.warn)
        self.assertEqual(events[0]["address"], missing)


class WatchdogSecondsTests(SynchronousTestCase):
    def test_microseconds_become_seconds(self):
        self.assertEqual(watchdog_seconds({"WATCHDOG_USEC": "30000000"}, 42), 30.0)

    def test_watchdog_pid_names_the_process_it_is_for(self):
        self.assertEqual(
            watchdog_seconds({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "42"}, 42), 0.5
        )
        self.assertIsNone(
            watchdog_seconds({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "43"}, 42)
        )

    def test_no_watchdog_unless_a_positive_number_is_set(self):
        for environ in ({}, {"WATCHDOG_USEC": "0"}, {"WATCHDOG_USEC": "soon"},
                        {"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "me"}):
            self.assertIsNone(watchdog_seconds(environ, 42), environ)


class StubServer:
    """What the notifier needs of the event server: whenListening()."""

    def __init__(self) -> None:
        self.listening: Deferred = Deferred()
        self.asked = 0

    def whenListening(self) -> Deferred:
        self.asked += 1
        return self.listening


class SystemdNotifierTests(SynchronousTestCase):
    def setUp(self):
        self.systemd = NotifySocket(self)
        self.server = StubServer()
        self.clock = Clock()

    def started(self, **environ: str) -> SystemdNotifier:
        environ.setdefault("NOTIFY_SOCKET", self.systemd.address)
        notifier = SystemdNotifier(self.server, self.clock, environ)
        notifier.startService()
        self.addCleanup(lambda: notifier.running and notifier.stopService())
        return notifier

    def test_ready_once_listening_with_a_status_naming_the_ports(self):
        self.started()
        self.assertEqual(self.systemd.received(), [])
        self.server.listening.callback(["tcp:127.0.0.1:7766", r"tcp:\:\:1:7766"])
        self.assertEqual(
            self.systemd.received(),
            [{"READY": "1", "STATUS": r"Listening on tcp:127.0.0.1:7766, tcp:\:\:1:7766"}],
        )

    def test_stopping_when_the_service_stops(self):
        notifier = self.started()
        self.server.listening.callback(["tcp:127.0.0.1:7766"])
        self.systemd.received()
        notifier.stopService()
        self.assertEqual(self.systemd.received(), [{"STOPPING": "1", "STATUS": "Stopping."}])

    def test_a_server_that_cannot_listen_never_says_ready(self):
        self.started()
        self.server.listening.errback(CannotListenError("127.0.0.1", 7766, "in use"))
        [message] = self.systemd.received()
        self.assertNotIn("READY", message)
        self.assertIn("Cannot listen", message["STATUS"])
        self.assertIn("in use", message["STATUS"])

    def test_watchdog_pings_at_half_its_timeout_until_stopped(self):
        notifier = self.started(WATCHDOG_USEC="2000000", WATCHDOG_PID=str(os.getpid()))
        ping = {"WATCHDOG": "1"}
        self.assertEqual(self.systemd.received(), [ping])
        self.clock.advance(0.99)
        self.assertEqual(self.systemd.received(), [])
        self.clock.advance(0.01)
        self.assertEqual(self.systemd.received(), [ping])
        self.clock.advance(1)
        self.assertEqual(self.systemd.received(), [ping])
        notifier.stopService()
        self.clock.advance(10)
        self.assertEqual(self.systemd.received(), [{"STOPPING": "1", "STATUS": "Stopping."}])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_a_watchdog_meant_for_another_process_is_left_alone(self):
        self.started(WATCHDOG_USEC="2000000", WATCHDOG_PID=str(os.getpid() + 1))
        self.clock.advance(10)
        self.assertEqual(self.systemd.received(), [])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_without_notify_socket_it_does_nothing(self):
        notifier = SystemdNotifier(self.server, self.clock, {"WATCHDOG_USEC": "1000000"})
        notifier.startService()
        self.assertEqual((self.server.asked, self.clock.getDelayedCalls()), (0, []))
        notifier.stopService()
        self.assertEqual(self.systemd.received(), [])


class Receiver(DatagramProtocol):
    """
    The notify socket, read by the reactor: the notifications that arrived,
    and Deferreds for the ones a test waits for.
    """

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self._waiters: list[tuple[str, int, Deferred]] = []

    def datagramReceived(self, datagram: bytes, address: object) -> None:
        self.messages.append(parse(datagram))
        for waiting in list(self._waiters):
            self._check(*waiting)

    def when(self, key: str, count: int = 1) -> Deferred:
        """
        Fires with the C{count}th notification holding C{key}, perhaps one
        already in.
        """
        waiter: Deferred = Deferred()
        self._waiters.append((key, count, waiter))
        self._check(key, count, waiter)
        return waiter

    def _check(self, key: str, count: int, waiter: Deferred) -> None:
        holding = [message for message in self.messages if key in message]
        if len(holding) >= count:
            self._waiters.remove((key, count, waiter))
            waiter.callback(holding[count - 1])

    def keys(self) -> list[str]:
        """The notifications' keys in arrival order, STATUS left out."""
        return [key for message in self.messages for key in message if key != "STATUS"]


def listen_as_systemd(testcase: TestCase) -> tuple[str, Receiver]:
    """Bind a notify socket in the test's reactor; its path and what it hears."""
    path = str(temporary_directory(testcase) / "notify")
    receiver = Receiver()
    port = reactor.listenUNIXDatagram(path, receiver)
    testcase.addCleanup(port.stopListening)
    return path, receiver


class NotifyEndToEndTests(TestCase):
    timeout = 90

    async def test_twistd_says_ready_once_listening_pings_and_says_stopping(self):
        path, systemd = listen_as_systemd(self)
        server = spawn(
            self,
            [TWISTD, "-n", "--pidfile=", "eventd", "-p", "0"],
            env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"},
        )
        ready = await within(systemd.when("READY"), START_SECONDS)
        uris = await within(server.started, START_SECONDS)
        # READY=1 came once the port listened: its status names the port the
        # banner names, and a client gets through there.
        self.assertEqual(ready["STATUS"], f"Listening on {uris[0]}")
        await round_trip(self, uris[0])
        pings = systemd.keys().count("WATCHDOG")
        await within(systemd.when("WATCHDOG", pings + 1), 10)

        await server.stop()
        await within(systemd.when("STOPPING"), 10)
        keys = [key for key in systemd.keys() if key != "WATCHDOG"]
        self.assertEqual(keys, ["READY", "STOPPING"])


class Activated(ServerProcess):
    """
    C{systemd-socket-activate}, which listens and, on the first connection,
    becomes the server: L{listening} fires once it listens.
    """

    def __init__(self) -> None:
        super().__init__()
        self.listening: Deferred = Deferred()

    def errReceived(self, data: bytes) -> None:
        super().errReceived(data)
        if not self.listening.called and "Listening on " in self.stderr:
            self.listening.callback(None)


def free_port() -> int:
    """A loopback port nobody listens on at the moment."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def setting(unit: str, key: str) -> str:
    """The value of the one C{key=} line of a unit file."""
    [value] = [line.split("=", 1)[1] for line in unit.splitlines() if line.startswith(key + "=")]
    return value


class SocketActivationTests(TestCase):
    timeout = 90

    async def test_the_units_command_serves_on_the_socket_systemd_passes(self):
        """
        Run the server the way the shipped units do, with systemd's own
        socket activator standing in for systemd: it listens where
        eventd.socket says (on a free port instead of 7766), names the
        socket as FileDescriptorName says, and runs ExecStart once a
        client connects.
        """
        activate = shutil.which("systemd-socket-activate")
        if activate is None:
            self.skipTest("needs systemd-socket-activate (Debian package systemd)")
        units = render_units("/opt/eventd/bin/twistd")
        service, sockets = units["eventd.service"], units["eventd.socket"]
        self.assertEqual(setting(sockets, "ListenStream"), "127.0.0.1:7766")
        *command, options = setting(service, "ExecStart").split()
        self.assertEqual((command[0], options), ("/opt/eventd/bin/twistd", "$EVENTD_OPTIONS"))
        command[0] = TWISTD

        path, systemd = listen_as_systemd(self)
        port = free_port()
        activated = spawn(
            self,
            [activate, "-l", f"127.0.0.1:{port}",
             f"--fdname={setting(sockets, 'FileDescriptorName')}",
             "-E", f"NOTIFY_SOCKET={path}", *command],
            process=Activated(),
        )
        await within(activated.listening, START_SECONDS)
        # Nothing runs the server until a client comes.
        self.assertNotIn("Execing", activated.output)
        self.assertEqual(systemd.messages, [])

        await round_trip(self, f"tcp:127.0.0.1:{port}")
        ready = await within(systemd.when("READY"), START_SECONDS)
        self.assertEqual(ready["STATUS"], f"Listening on tcp:127.0.0.1:{port}")
        self.assertEqual(await within(activated.started, START_SECONDS), [f"tcp:127.0.0.1:{port}"])

        await activated.stop()
        await within(systemd.when("STOPPING"), 10)


    async def test_a_socket_passed_by_index_as_the_docs_show(self):
        """
        The form eventd(8) and the issue give:
        systemd-socket-activate --fdname=eventd.socket -l ADDR twistd -n eventd
        --listen systemd:domain=INET:index=0
        """
        activate = shutil.which("systemd-socket-activate")
        if activate is None:
            self.skipTest("needs systemd-socket-activate (Debian package systemd)")
        port = free_port()
        activated = spawn(
            self,
            [activate, "--fdname=eventd.socket", "-l", f"127.0.0.1:{port}",
             TWISTD, "-n", "--pidfile=", "eventd", "--listen", "systemd:domain=INET:index=0"],
            process=Activated(),
        )
        await within(activated.listening, START_SECONDS)
        await round_trip(self, f"tcp:127.0.0.1:{port}")
        self.assertEqual(await within(activated.started, START_SECONDS), [f"tcp:127.0.0.1:{port}"])
        self.assertEqual(await activated.stop(), 0)


class WiringTests(SynchronousTestCase):
    def test_twistd_eventd_has_a_notifier_after_the_server(self):
        """
        After the server, so that it starts once the server has begun to
        listen, and stops before the server drains: STOPPING=1 goes out as
        the stop begins.
        """
        options = Options()
        options.parseOptions(["-p", "0"])
        top = makeService(options, MemoryReactorClock())
        names = [service.name for service in top]
        self.assertIsInstance(top.getServiceNamed("systemd"), SystemdNotifier)
        self.assertLess(names.index("eventd"), names.index("systemd"))
