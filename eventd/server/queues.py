"""
One subscriber's bounded queue, and what happens when it is full.

Every subscriber has its own queue, so a slow subscriber never slows the
others.  The queue is the streaming producer registered on the subscriber's
connection: it writes to the connection only while the connection takes data,
and holds events while the peer is slow.  When it holds C{size} events the
policy decides, as Pyro 3's PYRO_ES_BLOCKQUEUE did:

  - L{WhenFull.BLOCK}: the event is still queued, and L{DeliveryQueue.offer}
    says so; the publisher then waits for L{DeliveryQueue.when_room}, and
    the server stops reading from it (an Emit box waits with the rest of
    its records).  So nothing is lost, and each waiting publisher puts at
    most one publish past the bound: one event per subject it names.
  - L{WhenFull.DROP}: the event is dropped for this subscriber only, and
    counted.

The first event of a reactor turn is written the moment it is offered, so
at low load nothing waits; those that follow it in the same turn are
written together at the end of the turn, as one batch.
"""

from collections import deque
from typing import Optional, Sequence

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IPushProducer, IReactorTime
from twisted.logger import Logger
from zope.interface import implementer

from eventd.server.config import WhenFull
from eventd.server.interfaces import IDeliverySink, ISubscriber

BATCH_BYTES = 64 * 1024
"""Roughly how many bytes of events one write to the sink carries."""

FULL_REPORT_SECONDS = 10.0
"""The least time between two warnings about the same full queue."""



@implementer(ISubscriber, IPushProducer)
class DeliveryQueue:
    """
    A bounded FIFO of encoded events for one subscriber.

    @ivar delivered: events written to the sink so far.
    @ivar dropped: events dropped because the queue was full.
    @ivar high_water: the most events the queue ever held.
    """

    log = Logger()

    def __init__(
        self,
        sink: IDeliverySink,
        clock: IReactorTime,
        size: int,
        when_full: WhenFull,
        peer: str = "?",
    ) -> None:
        self.peer = peer
        self.size = size
        self.when_full = when_full
        self.delivered = 0
        self.dropped = 0
        self.high_water = 0
        self._sink = sink
        self._clock = clock
        self._items: deque[bytes] = deque()
        self._waiters: deque[Deferred[None]] = deque()
        self._paused = False
        self._stopped = False
        self._flush_call = None
        self._empty_waiters: list[Deferred[None]] = []
        self._dropped_reported = 0
        self._full_reported_at: Optional[float] = None

    def __len__(self) -> int:
        return len(self._items)

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
            size: its publisher should wait for L{when_room} before it
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
            self._sink.write_events((item,))
            self.delivered += 1
            self._flush_call = self._clock.callLater(0, self._flush)
            return False
        full = len(items) >= self.size
        if full:
            if self.when_full is WhenFull.DROP:
                self.dropped += 1
                self._report_full()
                return False
            self._report_full()
        items.append(item)
        if len(items) > self.high_water:
            self.high_water = len(items)
        if self._flush_call is None and not self._paused:
            self._flush_call = self._clock.callLater(0, self._flush)
        return full

    def when_room(self) -> Deferred[None]:
        """
        A Deferred that fires once the queue is below its size again (or the
        subscriber is gone): a block-mode publisher waits for it.
        """
        if len(self._items) < self.size or self._stopped:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._waiters.append(waiter)
        return waiter

    # IPushProducer: the subscriber's transport calls these.

    def pauseProducing(self) -> None:
        self._paused = True
        self._sink.sending_paused()

    def resumeProducing(self) -> None:
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
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        waiters, self._waiters = self._waiters, deque()
        for waiter in waiters:
            waiter.callback(None)
        self._tell_empty()

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
            batch = self._take_batch()
            self._sink.write_events(batch)
            self.delivered += len(batch)
        # Releasing a waiter may make its publisher publish again, into this
        # very queue: do it last, when this queue's own state is settled.
        if len(items) < self.size:
            waiters, self._waiters = self._waiters, deque()
            for waiter in waiters:
                waiter.callback(None)
        if not self._items:
            self._tell_empty()

    def _tell_empty(self) -> None:
        empty, self._empty_waiters = self._empty_waiters, []
        for waiter in empty:
            if not waiter.called:  # it may have been cancelled (timed out)
                waiter.callback(None)

    def _take_batch(self) -> Sequence[bytes]:
        items = self._items
        batch = [items.popleft()]
        budget = BATCH_BYTES - len(batch[0])
        while items and len(items[0]) <= budget:
            item = items.popleft()
            budget -= len(item)
            batch.append(item)
        return batch

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
        if self.when_full is WhenFull.DROP:
            self.log.warn(
                "queue of {peer} is full ({size} events): dropped {new} events "
                "for it ({dropped} in all)",
                peer=self.peer,
                size=self.size,
                new=self.dropped - self._dropped_reported,
                dropped=self.dropped,
            )
            self._dropped_reported = self.dropped
        else:
            self.log.warn(
                "queue of {peer} is full ({size} events): publishers wait for room",
                peer=self.peer,
                size=self.size,
            )
