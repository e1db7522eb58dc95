"""
Slowing down whoever guesses passwords.

Each failed login from a host makes the answer to that host's next failure
wait twice as long, up to a bound; a minute without failures forgets them.
An honest client that mistyped waits a quarter of a second; a guesser, on
however many connections, gets a few guesses a minute.
"""

from collections import OrderedDict

from twisted.internet.interfaces import IReactorTime

FIRST_DELAY_SECONDS = 0.25
"""How long the answer to a host's first failed login waits."""

MOST_DELAY_SECONDS = 8.0
"""The longest any answer waits."""

MEMORY_SECONDS = 60.0
"""How long a host's failures are remembered after its last one."""

HOSTS = 10_000
"""The most hosts remembered: past that the longest quiet are forgotten, so
a flood from many addresses costs bounded memory."""

# A success forgives nothing: one account's right password must not reset
# the count of guesses at another's from the same host.


class LoginThrottle:
    """
    Failed logins, by host, and how long the next refusal to each waits.
    """

    def __init__(self, clock: IReactorTime) -> None:
        self._clock = clock
        self._failures: OrderedDict[str, tuple[int, float]] = OrderedDict()

    def failed(self, host: str) -> float:
        """
        A login from C{host} failed: count it.

        @return: how many seconds the refusal should wait.
        """
        now = self._clock.seconds()
        count, last = self._failures.pop(host, (0, now))
        if now - last > MEMORY_SECONDS:
            count = 0
        count += 1
        self._failures[host] = (count, now)
        while len(self._failures) > HOSTS:
            self._failures.popitem(last=False)
        return min(FIRST_DELAY_SECONDS * 2 ** (count - 1), MOST_DELAY_SECONDS)

    def __len__(self) -> int:
        return len(self._failures)
