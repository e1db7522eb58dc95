"""
The event a subscriber receives.
"""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Event:
    """
    One message published on one subject, as a subscriber sees it.

    The attribute names are Pyro 3's, so a Pyro subscriber's C{event.msg},
    C{event.subject} and C{event.time} keep working.

    @ivar subject: the subject exactly as the publisher wrote it (matching is
        case-insensitive, but the spelling is preserved).
    @ivar msg: the decoded message.
    @ivar time: the server's clock (seconds since the epoch) when the event
        was published; every subject of one publish carries the same time.
    @ivar dropped_before: how many events the server dropped for this
        subscriber just before this one, because its queue was full (under
        the drop policies); 0 when nothing was missed.
    """

    subject: str
    msg: Any
    time: float
    dropped_before: int = 0
