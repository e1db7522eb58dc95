"""
Slowing down whoever guesses passwords.

Once a host has failed to log in, its next logins are checked one at a
time, a while apart: a quarter of a second after its first failure, twice
as long after each further one, up to a bound; a minute without failures
forgets them.  Checks still waiting count as failures to come, so a batch
of guesses is spaced as if each had failed.  The check itself waits, not only the refusal, and every
check from the host takes the next free slot: a guesser gains nothing by
sending many guesses at once, on however many connections, nor by reading
a slow answer as a no.  An honest host that never failed never waits; one
that mistyped waits a quarter of a second.
"""

from collections import OrderedDict
from dataclasses import dataclass

from twisted.internet.interfaces import IReactorTime

FIRST_DELAY_SECONDS = 0.25
"""How far apart a host's checks are after its first failure."""

MOST_DELAY_SECONDS = 8.0
"""The furthest apart they ever are."""

MEMORY_SECONDS = 60.0
"""How long a host's failures are remembered after its last one."""

HOSTS = 10_000
"""The most hosts remembered: past that the longest quiet are forgotten, so
a flood from many addresses costs bounded memory."""

# A success forgives nothing: one account's right password must not reset
# the count of guesses at another's from the same host.


def spacing(failures: int) -> float:
    """
    How far apart a host's checks are once it has failed C{failures} times.
    """
    if failures <= 0:
        return 0.0
    doublings = min(failures - 1, 16)  # past the bound already; no overflow
    return min(FIRST_DELAY_SECONDS * 2**doublings, MOST_DELAY_SECONDS)


@dataclass
class _Host:
    failures: int = 0
    last_failure: float = 0.0
    next_check: float = 0.0
    waiting: int = 0
    """Checks given a slot and not yet done: each may be one more failure,
    so the next slot is spaced as if it were."""


class LoginThrottle:
    """
    Failed logins, by host, and when each host's next check may run.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._hosts: OrderedDict[str, _Host] = OrderedDict()

    def reserve(self, host: str) -> float:
        """
        A login from C{host} is to be checked: take its slot.

        @return: how many seconds to wait before checking it.
        """
        now = self._clock.seconds()
        known = self._recent(host, now)
        if known is None:
            return 0.0
        at = max(now, known.next_check)
        known.waiting += 1
        known.next_check = at + spacing(known.failures + known.waiting)
        return at - now

    def checked(self, host: str) -> None:
        """
        A login from C{host} given a slot was checked, and right.
        """
        known = self._hosts.get(host)
        if known is not None and known.waiting:
            known.waiting -= 1

    def failed(self, host: str) -> None:
        """
        A login from C{host} failed (given a slot or not): count it, and
        push its next check further away.
        """
        now = self._clock.seconds()
        known = self._recent(host, now) or _Host(next_check=now)
        known.waiting = max(known.waiting - 1, 0)
        known.failures += 1
        known.last_failure = now
        known.next_check = max(known.next_check, now + spacing(known.failures))
        self._hosts[host] = known
        self._hosts.move_to_end(host)
        while len(self._hosts) > HOSTS:
            self._hosts.popitem(last=False)

    def _recent(self, host: str, now: float):
        """
        What is remembered of C{host}, if its failures are recent.
        """
        known = self._hosts.get(host)
        if known is not None and now - known.last_failure > MEMORY_SECONDS:
            if not known.waiting:
                del self._hosts[host]
                return None
        return known

    def __len__(self) -> int:
        return len(self._hosts)
