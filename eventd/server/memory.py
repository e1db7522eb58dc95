"""
The server's memory budget: one count of the bytes that clients make it
hold (events queued for subscribers, input received and not yet handled),
against one limit for the whole server.

Every subscriber's queue has bounds of its own; the budget is what keeps
many bounded things from adding up to more than the machine has.  When a
charge takes the count past the limit, the budget calls its owner's
L{MemoryBudget.on_over}, which frees memory (the server disconnects the
connection holding the most) until the count is under the limit again.
"""

from typing import Callable, Optional


class MemoryBudget:
    """
    A count of bytes held, and the limit it may not stay above.

    @ivar used: bytes held now.
    @ivar peak: the most bytes ever held at once.
    @ivar on_over: called, with no argument, when a charge takes L{used}
        past L{limit}; it should release memory.
    """

    def __init__(self, limit: int, on_over: Optional[Callable[[], None]] = None) -> None:
        self.limit = limit
        self.used = 0
        self.peak = 0
        self.on_over = on_over
        self._freeing = False

    def charge(self, size: int) -> None:
        """
        Count C{size} more bytes held; past the limit, free some.
        """
        self.used += size
        if self.used > self.peak:
            self.peak = self.used
        if self.used > self.limit and self.on_over is not None and not self._freeing:
            # Freeing releases charges, and may charge nothing new: guard
            # against being called again from inside.
            self._freeing = True
            try:
                self.on_over()
            finally:
                self._freeing = False

    def release(self, size: int) -> None:
        """
        Count C{size} bytes fewer held.
        """
        self.used -= size
