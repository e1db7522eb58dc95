"""
How long the reactor stalls: one connection's work, or anything else, that
keeps it from serving the others.

A call is scheduled every L{INTERVAL}; how late it runs is how long the
reactor was busy elsewhere.  The longest lateness of each second of the
last minute is kept, so the figures can say what the worst stall of the
last minute was, as the server's clients felt it.
"""

from collections import deque
from math import floor

from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

INTERVAL = 0.1
"""Seconds between two measurements."""

WINDOW = 60
"""Seconds of measurements kept."""


class StallMonitor:
    """
    Measures the reactor's stalls.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._seconds: deque[tuple[int, float]] = deque()
        self._expected = 0.0
        self._call = LoopingCall(self._measure)
        self._call.clock = clock

    def start(self) -> None:
        if not self._call.running:
            self._expected = self._clock.seconds() + INTERVAL
            self._call.start(INTERVAL, now=False)

    def stop(self) -> None:
        if self._call.running:
            self._call.stop()

    def longest(self) -> float:
        """
        The longest stall of the last L{WINDOW} seconds, in seconds.
        """
        self._forget_old(self._clock.seconds())
        return max((late for _, late in self._seconds), default=0.0)

    def _measure(self) -> None:
        now = self._clock.seconds()
        late = max(now - self._expected, 0.0)
        self._expected = now + INTERVAL
        second = floor(now)
        if self._seconds and self._seconds[-1][0] == second:
            if late > self._seconds[-1][1]:
                self._seconds[-1] = (second, late)
        else:
            self._seconds.append((second, late))
        self._forget_old(now)

    def _forget_old(self, now: float) -> None:
        while self._seconds and self._seconds[0][0] <= now - WINDOW:
            self._seconds.popleft()
