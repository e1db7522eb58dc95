"""
How the daemon answers signals.

twistd stops on SIGTERM and SIGINT, but then kills itself with the same
signal, so its exit status says "killed" (-15) even after a clean stop:
service managers and scripts read that as a failure.  Here both signals
stop the reactor as a request, and the process exits 0 once the server has
stopped gracefully.  SIGHUP reopens twistd's log file, for logrotate (which
moves the file away and expects the daemon to start a new one).
"""

import signal
from typing import Iterator

from twisted.application.service import Service
from twisted.internet.interfaces import IReactorCore
from twisted.logger import Logger, globalLogPublisher
from twisted.python.logfile import LogFile


class SignalHandling(Service):
    """
    Installs eventd's signal handlers once the reactor runs (after
    twistd's own, which they replace).
    """

    log = Logger()

    def __init__(self, reactor: IReactorCore) -> None:
        self._reactor = reactor

    def startService(self) -> None:
        super().startService()
        self._reactor.callWhenRunning(self._install)

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
        for log_file in _log_files():
            log_file.reopen()
            reopened += 1
        self.log.info("received SIGHUP: reopened {count} log files", count=reopened)


def _log_files() -> Iterator[LogFile]:
    """
    The log files twistd writes to (with --logfile).  twistd keeps its
    LogFile inside the file observer it registers globally and offers no
    other handle on it.
    """
    for observer in globalLogPublisher._observers:
        out = getattr(observer, "_outFile", None)
        if isinstance(out, LogFile):
            yield out
