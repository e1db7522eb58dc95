"""
Keeping the log readable when clients misbehave by the thousand: a budget
of lines per second for what clients cause.  A line over budget is not
written but counted, and the next line written says how many were not.
"""

from typing import Optional

from twisted.internet.interfaces import IReactorTime


class LogBudget:
    """
    A token bucket of log lines: L{rate} a second, L{burst} at once.
    """

    def __init__(self, clock: IReactorTime, rate: float, burst: int) -> None:
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock.seconds()
        self._held_back = 0

    def allow(self) -> Optional[str]:
        """
        Whether a line may be written now: if not, None (and the line is
        counted); if so, what to add to it, saying how many lines were held
        back before it (an empty string if none were).
        """
        now = self._clock.seconds()
        self._tokens = min(self.burst, self._tokens + (now - self._last) * self.rate)
        self._last = now
        if self._tokens < 1:
            self._held_back += 1
            return None
        self._tokens -= 1
        held, self._held_back = self._held_back, 0
        return f" ({held} more lines like this not written)" if held else ""
