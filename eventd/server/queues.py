"""
One subscriber's bounded queue, and what happens when it is full.

Every subscriber has its own queue, so a slow subscriber never slows the
others.  The queue is the streaming producer registered on the subscriber's
connection: it writes to the connection only while the connection takes data,
and holds events while the peer is slow.  It is full when it holds C{size}
events or C{max_bytes} bytes; its policy (L{WhenFull}) then decides, as
Pyro 3's PYRO_ES_BLOCKQUEUE did and more:

  - L{WhenFull.BLOCK}: the event is still queued, and L{DeliveryQueue.offer}
    says so; the publisher then waits for L{DeliveryQueue.when_room}, and
    the server stops reading from it (an Emit box waits with the rest of
    its records).  So nothing is lost, and each waiting publisher puts at
    most one publish past the bound: one event per subject it names.  But
    no wait is without end: a queue that stays full for the slow-consumer
    timeout gives up on its subscriber, which releases every publisher.
  - L{WhenFull.DROP}: the new event is dropped for this subscriber only.
  - L{WhenFull.DROP_OLDEST}: the oldest queued events are dropped to make
    room for the new one.
  - L{WhenFull.DISCONNECT}: the queue gives up on its subscriber at once.

Every drop is counted, and the next event delivered carries how many were
dropped just before it, so a subscriber learns what it missed.  Every byte
queued is charged to the server's L{MemoryBudget}.

The first event of a reactor turn is written the moment it is offered, so
at low load nothing waits; those that follow it in the same turn are
written together at the end of the turn, as one batch.
"""

from collections import deque
from dataclasses import dataclass, replace
from typing import Optional, Sequence

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IPushProducer, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from eventd.server.config import WhenFull
from eventd.server.interfaces import IDeliverySink, ISubscriber
from eventd.server.memory import MemoryBudget

BATCH_BYTES = 64 * 1024
"""Roughly how many bytes of events one write to the sink carries."""

FULL_REPORT_SECONDS = 10.0
"""The least time between two warnings about the same full queue."""


@dataclass(frozen=True)
class QueueBounds:
    """
    How much one subscriber's queue holds, and what it does when full.

    @ivar size: events it holds.
    @ivar max_bytes: bytes it holds (it takes one event of any size when
        empty, so that no event is too big to ever be delivered).
    @ivar when_full: its policy.
    @ivar slow_consumer_seconds: in block mode, how long it may stay full.
    """

    size: int
    max_bytes: int
    when_full: WhenFull
    slow_consumer_seconds: float


@implementer(ISubscriber, IPushProducer)
class DeliveryQueue:
    """
    A bounded FIFO of encoded events for one subscriber.

    @ivar delivered: events written to the sink so far.
    @ivar dropped: events dropped because the queue was full.
    @ivar high_water: the most events the queue ever held.
    @ivar bytes: the bytes of the events it holds now.
    @ivar gave_up: why the queue gave up on its subscriber, if it did.
    @ivar user: the user its subscriber logged in as, for the access list;
        None for an anonymous one.
    """

    log = Logger()

    def __init__(
        self,
        sink: IDeliverySink,
        clock: IReactorTime,
        bounds: QueueBounds,
        budget: MemoryBudget,
        peer: str = "?",
    ) -> None:
        self.peer = peer
        self.user: Optional[str] = None
        self.bounds = bounds
        self.delivered = 0
        self.dropped = 0
        self.high_water = 0
        self.bytes = 0
        self.gave_up: Optional[str] = None
        self._sink = sink
        self._clock = clock
        self._budget = budget
        self._items: deque[bytes] = deque()
        # Events dropped just before an event, by that event's number (the
        # count of events appended before it), and before the next one.
        self._appended = 0
        self._gaps: dict[int, int] = {}
        self._next_gap = 0
        self._waiters: deque[Deferred[None]] = deque()
        self._paused = False
        self._stopped = False
        self._flush_call: Optional[IDelayedCall] = None
        self._slow_call: Optional[IDelayedCall] = None
        self._empty_waiters: list[Deferred[None]] = []
        self._dropped_reported = 0
        self._full_reported_at: Optional[float] = None

    def __len__(self) -> int:
        return len(self._items)

    @property
    def when_full(self) -> WhenFull:
        return self.bounds.when_full

    @property
    def stopped(self) -> bool:
        """
        Whether its subscriber is gone (or given up on): nothing more is
        queued for it.
        """
        return self._stopped

    def set_policy(self, when_full: WhenFull) -> None:
        """
        Treat a full queue by C{when_full} from now on: the policy its
        subscriber asked for.
        """
        self.bounds = replace(self.bounds, when_full=when_full)
        if when_full is not WhenFull.BLOCK:
            if self._slow_call is not None:
                self._slow_call.cancel()
                self._slow_call = None
            self._release_waiters()

    def when_empty(self) -> Deferred[None]:
        """
        A Deferred that fires once every queued event has been written to the
        sink (or the subscriber is gone): a stopping server waits for it.
        """
        if not self._items or self._stopped:
            return succeed(None)
        empty: Deferred[None] = Deferred()
        self._empty_waiters.append(empty)
        return empty

    def offer(self, item: bytes) -> bool:
        """
        Take one encoded event.

        @return: True if, in block mode, the event went past the queue's
            bounds: its publisher should wait for L{when_room} before it
            publishes more.  (Asking once per publisher, not once per
            event, keeps a loaded block-mode server from building a Deferred
            for every event.)
        """
        if self._stopped:
            return False
        items = self._items
        if not items and self._flush_call is None and not self._paused:
            # The first event of a reactor turn goes out at once: at low load
            # nothing waits.  Those that follow it in the same turn wait for
            # the flush at its end, and go out together.
            gap, self._next_gap = self._next_gap, 0
            self._appended += 1
            self._sink.write_events((item,), {0: gap} if gap else None)
            self.delivered += 1
            self._flush_call = self._clock.callLater(0, self._flush)
            return False
        full = self._is_full(len(item))
        if full:
            policy = self.bounds.when_full
            if policy is WhenFull.DISCONNECT:
                self._give_up("its queue is full")
                return False
            if policy is WhenFull.DROP:
                self._drop_new()
                self._report_full()
                return False
            if policy is WhenFull.DROP_OLDEST:
                self._drop_oldest(len(item))
            elif self._slow_call is None:
                self._slow_call = self._clock.callLater(
                    self.bounds.slow_consumer_seconds, self._slow_consumer
                )
            self._report_full()
        self._append(item)
        if self._flush_call is None and not self._paused:
            self._flush_call = self._clock.callLater(0, self._flush)
        return full and self.bounds.when_full is WhenFull.BLOCK

    def when_room(self) -> Deferred[None]:
        """
        A Deferred that fires once the queue is within its bounds again (or
        the subscriber is gone): a block-mode publisher waits for it.
        """
        if not self._is_full(0) or self._stopped:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiters.append(waiter)
        return waiter

    # IPushProducer: the subscriber's transport calls these.

    # Twisted's transports pause their producer on every write while their
    # buffer is full (so answers written meanwhile pause it again), and
    # resume it once: the sink hears of each change once.

    def pauseProducing(self) -> None:
        if not self._paused:
            self._paused = True
            self._sink.sending_paused()

    def resumeProducing(self) -> None:
        if self._paused:
            self._paused = False
            self._sink.sending_resumed()
        self._flush()

    def stopProducing(self) -> None:
        """
        The subscriber is gone: forget its events and release every publisher
        waiting for room in its queue.
        """
        if self._stopped:
            return
        self._stopped = True
        self._items.clear()
        self._gaps.clear()
        self._budget.release(self.bytes)
        self.bytes = 0
        for call in (self._flush_call, self._slow_call):
            if call is not None and call.active():
                call.cancel()
        self._flush_call = self._slow_call = None
        self._release_waiters()
        self._tell_empty()

    # Internals.

    def _is_full(self, adding: int) -> bool:
        """
        Whether the queue is at its bounds, for an event of C{adding} bytes.
        """
        items = self._items
        return len(items) >= self.bounds.size or (
            bool(items) and self.bytes + adding > self.bounds.max_bytes
        )

    def _append(self, item: bytes) -> None:
        if self._next_gap:
            self._gaps[self._appended] = self._next_gap
            self._next_gap = 0
        self._appended += 1
        self._items.append(item)
        self.bytes += len(item)
        if len(self._items) > self.high_water:
            self.high_water = len(self._items)
        self._budget.charge(len(item))

    def _pop(self) -> tuple[bytes, int]:
        """
        The oldest event, and how many were dropped just before it.
        """
        number = self._appended - len(self._items)
        item = self._items.popleft()
        self.bytes -= len(item)
        self._budget.release(len(item))
        return item, self._gaps.pop(number, 0) if self._gaps else 0

    def _drop_new(self) -> None:
        self.dropped += 1
        self._next_gap += 1

    def _drop_oldest(self, adding: int) -> None:
        """
        Drop the oldest events until one of C{adding} bytes fits; the next
        event delivered carries their count.
        """
        carried = 0
        while self._items and self._is_full(adding):
            _, gap = self._pop()
            carried += gap + 1
            self.dropped += 1
        if self._items:
            head = self._appended - len(self._items)
            self._gaps[head] = self._gaps.get(head, 0) + carried
        else:
            self._next_gap += carried

    def _flush(self) -> None:
        """
        Write queued events to the sink in batches while it takes them, then
        let waiting publishers go on if there is room.
        """
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        items = self._items
        while items and not self._paused and not self._stopped:
            batch, gaps = self._take_batch()
            self._sink.write_events(batch, gaps)
            self.delivered += len(batch)
        # Releasing a waiter may make its publisher publish again, into this
        # very queue: do it last, when this queue's own state is settled.
        if not self._is_full(0):
            if self._slow_call is not None:
                self._slow_call.cancel()
                self._slow_call = None
            self._release_waiters()
        if not self._items:
            self._tell_empty()

    def _take_batch(self) -> tuple[Sequence[bytes], Optional[dict[int, int]]]:
        items = self._items
        batch: list[bytes] = []
        gaps: Optional[dict[int, int]] = None
        budget = BATCH_BYTES
        while items and (not batch or len(items[0]) <= budget):
            item, gap = self._pop()
            if gap:
                gaps = gaps or {}
                gaps[len(batch)] = gap
            budget -= len(item)
            batch.append(item)
        return batch, gaps

    def _release_waiters(self) -> None:
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            waiter.callback(None)

    def _tell_empty(self) -> None:
        empty, self._empty_waiters = self._empty_waiters, []
        for waiter in empty:
            if not waiter.called:  # it may have been cancelled (timed out)
                waiter.callback(None)

    def _slow_consumer(self) -> None:
        self._slow_call = None
        self._give_up(
            f"its queue stayed full for {self.bounds.slow_consumer_seconds:g} seconds"
        )

    def _give_up(self, reason: str) -> None:
        """
        The subscriber cannot keep up: forget it (which frees its memory and
        releases its publishers) and have its connection closed.
        """
        self.gave_up = reason
        queued, queued_bytes = len(self._items), self.bytes
        self.stopProducing()
        self._sink.slow_consumer(
            f"{reason} ({queued} events, {queued_bytes} bytes queued; "
            f"{self.delivered} delivered, {self.dropped} dropped)"
        )

    def _report_full(self) -> None:
        """
        Warn that this queue is full, at most once per L{FULL_REPORT_SECONDS}:
        a subscriber that cannot keep up is worth one line, not a flood.
        """
        now = self._clock.seconds()
        last = self._full_reported_at
        if last is not None and now - last < FULL_REPORT_SECONDS:
            return
        self._full_reported_at = now
        bounds = self.bounds
        if bounds.when_full in (WhenFull.DROP, WhenFull.DROP_OLDEST):
            self.log.warn(
                "queue of {peer} is full ({size} events, {max_bytes} bytes): dropped "
                "{new} events for it ({dropped} in all)",
                peer=self.peer,
                size=bounds.size,
                max_bytes=bounds.max_bytes,
                new=self.dropped - self._dropped_reported,
                dropped=self.dropped,
            )
            self._dropped_reported = self.dropped
        elif bounds.when_full is WhenFull.BLOCK:
            self.log.warn(
                "queue of {peer} is full ({size} events, {max_bytes} bytes): "
                "publishers wait for room, for {seconds:g} seconds at most",
                peer=self.peer,
                size=bounds.size,
                max_bytes=bounds.max_bytes,
                seconds=bounds.slow_consumer_seconds,
            )
