"""
A snapshot of the server's figures: what the Stats command answers, what
C{eventd stats} shows and what C{/metrics} exports.

Nothing here counts events.  A snapshot reads counters the server keeps
anyway (the broker's publish count, each queue's delivered and dropped
counts, the totals of closed connections), so asking costs one pass over the
connections and their subscriptions, and publishing costs nothing more than
before.
"""

from dataclasses import asdict, dataclass, field
from typing import Any, Optional, Sequence

from eventd.server.broker import SubscriptionManager
from eventd.server.counters import Counters
from eventd.server.memory import MemoryBudget
from eventd.server.queues import DeliveryQueue


@dataclass(frozen=True)
class Totals:
    """
    Events delivered to and dropped for connections since closed.
    """

    delivered: int = 0
    dropped: int = 0

    def plus(self, queue: DeliveryQueue) -> "Totals":
        """
        These totals and what a closing connection's queue counted.
        """
        return Totals(self.delivered + queue.delivered, self.dropped + queue.dropped)


@dataclass(frozen=True)
class SubscriberStats:
    """
    One connection holding at least one subscription.

    @ivar peer: its address, as the server's log names it.
    @ivar subscriptions: exact subjects and patterns it holds.
    @ivar queue_depth: events waiting in its queue now.
    @ivar high_water: the most events its queue ever held.
    @ivar delivered: events written to it so far.
    @ivar dropped: events dropped for it because its queue was full.
    @ivar queue_bytes: bytes of the events waiting in its queue now.
    @ivar policy: what its full queue does (block, drop, drop-oldest,
        disconnect).
    @ivar user: the user it logged in as; None if anonymous.
    """

    peer: str
    subscriptions: int
    queue_depth: int
    high_water: int
    delivered: int
    dropped: int
    queue_bytes: int
    policy: str
    user: Optional[str] = None


@dataclass(frozen=True)
class ServerStats:
    """
    The server's figures at one moment.

    @ivar uptime: seconds since the server was made.
    @ivar connections: connected clients, the one asking included.
    @ivar subscriptions: exact subjects and patterns held, summed over the
        connections (two connections holding C{news} count two).
    @ivar patterns: distinct patterns held by anybody.
    @ivar published: events published since start (one per subject of each
        publish), whether or not anybody received them.
    @ivar delivered: events written to subscribers since start, by
        connections since closed too.
    @ivar dropped: events dropped for subscribers with a full queue since
        start, by connections since closed too.
    @ivar memory_bytes: bytes the server holds for its clients now: events
        queued for subscribers, input not yet handled.
    @ivar memory_peak_bytes: the most it ever held.
    @ivar memory_budget_bytes: the most it may hold (--max-memory-bytes).
    @ivar slow_consumers: subscribers disconnected for not keeping up.
    @ivar refused: requests refused since start, by error code.
    @ivar closed: connections the server closed since start, by the code
        of its Goodbye (SLOW_CONSUMER, HEARTBEAT_TIMEOUT, ...).
    @ivar longest_stall: the longest the reactor was kept from serving
        connections in the last minute, in seconds.
    @ivar subscribers: the connections holding at least one subscription,
        ordered by peer; how many there are is its length.
    @ivar security: what admission and access list are in force
        (L{eventd.server.security.Security.describe}).
    @ivar logins: connections admitted as a user since start, by how they
        proved it (C{scram}, C{certificate}).
    @ivar login_failures: logins refused since start for a wrong user
        name or secret.
    """

    uptime: float
    connections: int
    subscriptions: int
    patterns: int
    published: int
    delivered: int
    dropped: int
    memory_bytes: int
    memory_peak_bytes: int
    memory_budget_bytes: int
    slow_consumers: int
    refused: dict[str, int]
    closed: dict[str, int]
    longest_stall: float
    subscribers: tuple[SubscriberStats, ...]
    security: dict[str, Any] = field(default_factory=dict)
    logins: dict[str, int] = field(default_factory=dict)
    login_failures: int = 0

    def as_dict(self) -> dict[str, Any]:
        """
        The JSON form of the Stats command and of C{eventd stats --json}:
        one key per field, C{subscribers} a list of objects with the keys
        of L{SubscriberStats}.
        """
        figures = asdict(self)
        figures["subscribers"] = list(figures["subscribers"])
        return figures


def server_stats(
    broker: SubscriptionManager,
    queues: Sequence[DeliveryQueue],
    closed: Totals,
    counters: Counters,
    budget: MemoryBudget,
    uptime: float,
    longest_stall: float,
    security: Optional[dict[str, Any]] = None,
) -> ServerStats:
    """
    Take a snapshot of a server's figures.

    @param queues: the delivery queue of every connection.
    @param closed: what connections since closed counted.
    @param counters: refusals and closings.
    @param budget: the memory budget of all connections.
    @param uptime: seconds since the server started.
    @param longest_stall: the reactor's longest stall of the last minute.
    @param security: what admission and access list are in force.
    """
    delivered = closed.delivered
    dropped = closed.dropped
    subscribers = []
    for queue in queues:
        delivered += queue.delivered
        dropped += queue.dropped
        subjects, patterns = broker.subscriptions_of(queue)
        held = len(subjects) + len(patterns)
        if held:
            subscribers.append(
                SubscriberStats(
                    peer=queue.peer,
                    subscriptions=held,
                    queue_depth=len(queue),
                    high_water=queue.high_water,
                    delivered=queue.delivered,
                    dropped=queue.dropped,
                    queue_bytes=queue.bytes,
                    policy=queue.when_full.value,
                    user=queue.user,
                )
            )
    subscribers.sort(key=lambda subscriber: subscriber.peer)
    return ServerStats(
        uptime=uptime,
        connections=len(queues),
        subscriptions=sum(subscriber.subscriptions for subscriber in subscribers),
        patterns=len(broker.patterns),
        published=broker.published,
        delivered=delivered,
        dropped=dropped,
        memory_bytes=budget.used,
        memory_peak_bytes=budget.peak,
        memory_budget_bytes=budget.limit,
        slow_consumers=counters.closed["SLOW_CONSUMER"],
        refused=dict(sorted(counters.refused.items())),
        closed=dict(sorted(counters.closed.items())),
        longest_stall=longest_stall,
        security=security or {},
        logins=dict(sorted(counters.logins.items())),
        login_failures=counters.login_failures,
        subscribers=tuple(subscribers),
    )
