"""
How the daemon answers signals.

twistd stops on SIGTERM and SIGINT, but then kills itself with the same
signal, so its exit status says "killed" (-15) even after a clean stop:
service managers and scripts read that as a failure.  Here both signals
stop the reactor as a request, and the process exits 0 once the server has
stopped gracefully.  SIGHUP reopens twistd's log file, for logrotate (which
moves the file away and expects the daemon to start a new one), and has
the server read its users file and access list again (L{on_hangup}).
"""

import signal
from typing import Callable

from twisted.application.service import Service
from twisted.internet.interfaces import IReactorCore
from twisted.logger import Logger

from eventd.server.logfiles import log_files


class SignalHandling(Service):
    """
    Installs eventd's signal handlers once the reactor runs (after
    twistd's own, which they replace).

    It asks for that in the privileged start, which twistd runs for every
    service before any starts, so that, as the first service, its handlers
    are in place before the server's banner says it runs.
    """

    log = Logger()

    def __init__(self, reactor: IReactorCore) -> None:
        self._reactor = reactor
        self._installing = False
        self._hangups: list[Callable[[], None]] = []

    def on_hangup(self, reread: Callable[[], None]) -> None:
        """
        Call C{reread} on SIGHUP too, after the logs are reopened (so what
        it logs goes to the new file).
        """
        self._hangups.append(reread)

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._installing = True
        self._reactor.callWhenRunning(self._install)

    def startService(self) -> None:
        super().startService()
        if not self._installing:
            self.privilegedStartService()

    def _install(self) -> None:
        for stop in (signal.SIGTERM, signal.SIGINT):
            signal.signal(stop, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hangup)

    # Signal handlers run between two bytecodes of whatever the main thread
    # was doing: they only hand the work to the reactor.

    def _on_stop(self, number: int, frame: object) -> None:
        self._reactor.callFromThread(self._stop, signal.Signals(number).name)

    def _on_hangup(self, number: int, frame: object) -> None:
        self._reactor.callFromThread(self._reopen_logs)

    def _stop(self, name: str) -> None:
        if self.running:
            self.log.info("received {signal}: stopping", signal=name)
            self.running = False
            self._reactor.stop()

    def _reopen_logs(self) -> None:
        reopened = 0
        for log_file in log_files():
            log_file.reopen()
            reopened += 1
        self.log.info("received SIGHUP: reopened {count} log files", count=reopened)
        for reread in self._hangups:
            reread()
