"""
The C{eventd} command as tests run it: the installed console script as a
child process, in C{/}, without PYTHONUNBUFFERED (so every test that reads
C{eventd sub}'s output line by line also shows that it flushes each line
itself).
"""

import itertools
import os
import signal
import sys
from pathlib import Path
from typing import Callable, Optional

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import ProcessProtocol
from twisted.internet.task import LoopingCall
from twisted.trial.unittest import TestCase

from tests.servers import STOP_SECONDS, WAIT, within

EVENTD = str(Path(sys.executable).parent / "eventd")
CHILD_ENV = {name: value for name, value in os.environ.items() if name != "PYTHONUNBUFFERED"}


class Command(ProcessProtocol):
    """
    An C{eventd} child process: what it wrote, and whether it has ended.
    """

    def __init__(self, stdin: Optional[bytes]) -> None:
        self.stdout = b""
        self.stderr = b""
        self.exit_code: Optional[int] = None
        self.ended = False
        self._stdin = stdin
        self._waiters: list[tuple[Callable[[], bool], Deferred]] = []

    def connectionMade(self) -> None:
        if self._stdin is not None:
            self.transport.write(self._stdin)
            self.transport.closeStdin()

    def outReceived(self, data: bytes) -> None:
        self.stdout += data
        self._check()

    def errReceived(self, data: bytes) -> None:
        self.stderr += data

    def processEnded(self, reason) -> None:
        self.exit_code = reason.value.exitCode
        self.ended = True
        self._check()

    @property
    def lines(self) -> list[str]:
        """The complete lines of standard output so far."""
        return [line.decode() for line in self.stdout.split(b"\n")[:-1]]

    @property
    def pid(self) -> int:
        return self.transport.pid

    def when_ended(self) -> Deferred:
        """Fires with this command once the process has ended."""
        return self.when(lambda: self.ended)

    def when_lines(self, count: int) -> Deferred:
        """
        Fires with this command once it has printed C{count} lines; fails
        if it ends first.
        """
        return self.when(lambda: len(self.lines) >= count)

    def when(self, ready: Callable[[], bool]) -> Deferred:
        """Fires with this command once C{ready()}; fails if it ends first."""
        waiter: Deferred = Deferred()
        self._waiters.append((ready, waiter))
        self._check()
        return waiter

    def _check(self) -> None:
        for ready, waiter in list(self._waiters):
            if ready():
                self._waiters.remove((ready, waiter))
                waiter.callback(self)
            elif self.ended:
                self._waiters.remove((ready, waiter))
                waiter.errback(AssertionError(f"eventd ended first: {self!r}"))

    async def stop(self) -> None:
        """Kill the process (ours, by its PID) if it still runs; wait for its end."""
        if not self.ended:
            os.kill(self.pid, signal.SIGKILL)
        await within(self.when_ended(), STOP_SECONDS)

    def __repr__(self) -> str:
        return f"<exit {self.exit_code}, stdout {self.stdout!r}, stderr {self.stderr!r}>"


def start(testcase: TestCase, *args: str, stdin: Optional[bytes] = None) -> Command:
    """
    Start C{eventd *args} in C{/} without PYTHONUNBUFFERED, killed when the
    test ends if still running.  Without C{stdin}, its standard input stays
    open and empty, so a command that wrongly reads it hangs (and times out).
    """
    command = Command(stdin)
    reactor.spawnProcess(command, EVENTD, [EVENTD, *args], env=CHILD_ENV, path="/")
    testcase.addCleanup(command.stop)
    return command


async def run(testcase: TestCase, *args: str, stdin: Optional[bytes] = None) -> Command:
    """Run C{eventd *args} to its end."""
    return await within(start(testcase, *args, stdin=stdin).when_ended(), WAIT)


async def publish_until(publisher, until: Deferred, subject: str) -> None:
    """
    Publish 0, 1, 2, ... on C{subject} every 50 ms until C{until} fires.  A
    child subscribes at a moment we cannot see; this keeps events coming
    until it has shown us it has them.
    """
    numbers = itertools.count()
    repeat = LoopingCall(lambda: publisher.publish(subject, next(numbers)))
    repeat.start(0.05)
    try:
        await within(until, WAIT)
    finally:
        repeat.stop()


def suspend(testcase: TestCase, command: "Command") -> None:
    """
    Stop a child with SIGSTOP, as a hung or swapped-out program would be;
    it is continued when the test ends, so that it can be stopped for good.
    """
    os.kill(command.pid, signal.SIGSTOP)
    testcase.addCleanup(lambda: command.ended or os.kill(command.pid, signal.SIGCONT))
