"""
Telling systemd how the server is doing: the sd_notify protocol.

A C{Type=notify} unit counts the server as started only once it says
C{READY=1}, so C{systemctl start} and the units ordered after it wait
until the ports really listen, not merely until the process exists.
C{STOPPING=1} tells systemd that a stop is under way (the server may take
seconds to drain its queues), and C{WATCHDOG=1}, sent from the reactor
while it turns, lets a unit with C{WatchdogSec=} restart a server that
hangs.

The protocol (sd_notify(3)) is one datagram of C{KEY=VALUE} lines to the
AF_UNIX socket named by C{$NOTIFY_SOCKET}, a path or, after C{@}, a name
in the abstract namespace.  That is a few lines of Python, written here
rather than taken as a dependency.
"""

import os
import socket
from typing import Mapping, Optional

from twisted.application.service import Service
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.python.failure import Failure

from eventd.server.service import EventService


class Notifier:
    """
    Sends notifications to systemd's notify socket.

    A notification that cannot be sent is logged and dropped: systemd
    cannot be told anything then, and the server is better off serving
    than stopping over it.

    @ivar address: where notifications go, as C{$NOTIFY_SOCKET} gave it.
    """

    log = Logger()

    def __init__(self, address: str) -> None:
        """
        @param address: the socket's path, or C{@name} for the abstract
            namespace (the forms C{$NOTIFY_SOCKET} takes).
        """
        self.address = address
        self._target = "\0" + address[1:] if address.startswith("@") else address
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Optional["Notifier"]:
        """
        A notifier for C{$NOTIFY_SOCKET}, or None when it is unset (we do not
        run under a C{Type=notify} unit) or names a kind of socket this
        notifier does not speak to.
        """
        address = environ.get("NOTIFY_SOCKET", "")
        if not address:
            return None
        if not address.startswith(("/", "@")):
            cls.log.warn(
                "NOTIFY_SOCKET={address!r} is neither a path nor an abstract "
                "socket name: not notifying systemd",
                address=address,
            )
            return None
        return cls(address)

    def notify(self, **fields: str) -> bool:
        """
        Send one notification, e.g. C{notify(READY="1", STATUS="...")}.
        Never blocks: the reactor's thread must not wait on systemd.

        @return: whether it was sent.
        """
        message = "\n".join(
            f"{key}={' '.join(value.splitlines())}" for key, value in fields.items()
        )
        try:
            self._socket.sendto(message.encode(), socket.MSG_DONTWAIT, self._target)
        except OSError as error:
            self.log.warn(
                "cannot notify systemd at {address}: {error}",
                address=self.address,
                error=error.strerror or error,
            )
            return False
        return True

    def close(self) -> None:
        """Release the socket: nothing more will be said."""
        self._socket.close()


def watchdog_seconds(environ: Mapping[str, str], pid: int) -> Optional[float]:
    """
    The watchdog timeout systemd set for process C{pid} (C{$WATCHDOG_USEC},
    in microseconds), or None if it set none.  C{$WATCHDOG_PID}, when set,
    names the one process the timeout is meant for.
    """
    try:
        microseconds = int(environ.get("WATCHDOG_USEC", ""))
        meant_for = int(environ.get("WATCHDOG_PID", pid))
    except ValueError:
        return None
    if microseconds <= 0 or meant_for != pid:
        return None
    return microseconds / 1_000_000


class SystemdNotifier(Service):
    """
    Keeps systemd informed about the event server beside it: C{READY=1}
    (with a C{STATUS=} line naming the listening ports) once it listens,
    C{WATCHDOG=1} twice per watchdog timeout while the reactor turns, and
    C{STOPPING=1} when the service stops.

    Outside a C{Type=notify} unit (no C{$NOTIFY_SOCKET}) it does nothing.
    Add it to the same parent after the server, so that it starts after the
    server and stops before it: C{STOPPING=1} then goes out as the stop
    begins, not after the connections have drained.
    """

    name = "systemd"
    log = Logger()

    def __init__(
        self,
        server: EventService,
        reactor: IReactorTime,
        environ: Optional[Mapping[str, str]] = None,
    ) -> None:
        """
        @param environ: where to find C{$NOTIFY_SOCKET} and the watchdog
            settings; by default, this process's environment.
        """
        self._server = server
        self._reactor = reactor
        self._environ = os.environ if environ is None else environ
        self._notifier: Optional[Notifier] = None
        self._watchdog: Optional[LoopingCall] = None

    def startService(self) -> None:
        super().startService()
        self._notifier = Notifier.from_environment(self._environ)
        if self._notifier is None:
            return
        seconds = watchdog_seconds(self._environ, os.getpid())
        if seconds is not None:
            self._watchdog = LoopingCall(self._notifier.notify, WATCHDOG="1")
            self._watchdog.clock = self._reactor
            self._watchdog.start(seconds / 2, now=True)
        self._server.whenListening().addCallbacks(self._ready, self._not_ready)

    def stopService(self) -> None:
        super().stopService()
        if self._watchdog is not None and self._watchdog.running:
            self._watchdog.stop()
        self._watchdog = None
        if self._notifier is not None:
            self._notifier.notify(STOPPING="1", STATUS="Stopping.")
            self._notifier.close()
            self._notifier = None

    def _ready(self, uris: list[str]) -> None:
        if self._notifier is not None:
            self._notifier.notify(READY="1", STATUS="Listening on " + ", ".join(uris))

    def _not_ready(self, failure: Failure) -> None:
        # The server has logged the reason; systemd's status shows it too,
        # until the start times out.
        if self._notifier is not None:
            self._notifier.notify(STATUS=f"Cannot listen: {failure.getErrorMessage()}")
