"""
The subscription manager: who is subscribed to what, and fan-out.

This is the heart of the server and knows nothing of sockets, codecs or the
reactor.  It keeps exact subscriptions (by case-folded subject) and pattern
subscriptions (an RE2 set), and hands each published event to every matching
L{ISubscriber} exactly once, however many of its subscriptions match.
"""

from typing import Iterable, Optional

from eventd.errors import TooManySubscriptions
from eventd.server.interfaces import ISubscriber
from eventd.server.patterns import PatternIndex
from eventd.wire.subjects import check_subject, compile_pattern, fold_subject

MAX_SUBSCRIPTIONS = 10_000
"""The most subjects and patterns one subscriber may hold."""

CACHE_ENTRIES = 10_000
"""How many subjects' subscriber lists are remembered between changes."""


class _Subscriptions:
    """
    What one subscriber holds: the folded subjects and the patterns.
    """

    __slots__ = ("subjects", "patterns")

    def __init__(self) -> None:
        self.subjects: set[str] = set()
        self.patterns: set[str] = set()

    def __len__(self) -> int:
        return len(self.subjects) + len(self.patterns)


class SubscriptionManager:
    """
    Subscriptions of many subscribers, and the fan-out of published events.

    Which subscribers a subject reaches is computed once and cached until the
    subscriptions change, so a steady stream of events on the same subjects
    costs one dictionary lookup per event, not a pattern match.
    """

    def __init__(self, max_subscriptions: int = MAX_SUBSCRIPTIONS) -> None:
        self.max_subscriptions = max_subscriptions
        self.published = 0
        self._exact: dict[str, dict[ISubscriber, None]] = {}
        self._patterns: PatternIndex[ISubscriber] = PatternIndex()
        self._held: dict[ISubscriber, _Subscriptions] = {}
        self._targets: dict[str, tuple[ISubscriber, ...]] = {}

    # Subscriptions.

    def subscribe(self, subscriber: ISubscriber, subjects: Iterable[str]) -> None:
        """
        Subscribe to exact subjects (compared without regard to case).

        Either every subject is added or, if one is refused, none is.

        @raise BadSubject: if a subject is unusable.
        @raise TooManySubscriptions: past L{max_subscriptions}.
        """
        folded = {fold_subject(check_subject(subject)) for subject in subjects}
        held = self._held.get(subscriber) or _Subscriptions()
        new = folded - held.subjects
        self._make_room(subscriber, held, len(new))
        for key in new:
            self._exact.setdefault(key, {})[subscriber] = None
            held.subjects.add(key)
        self._targets.clear()

    def subscribe_match(self, subscriber: ISubscriber, patterns: Iterable[str]) -> None:
        """
        Subscribe to every subject a regular expression matches (anchored at
        the start, without regard to case).

        Either every pattern is added or, if one is refused, none is.

        @raise BadPattern: naming the first pattern RE2 refuses.
        @raise TooManySubscriptions: past L{max_subscriptions}.
        """
        patterns = list(dict.fromkeys(patterns))
        # Patterns somebody holds already compiled; the others are compiled
        # once, here, so that a refused one leaves everything unchanged.
        compiled = {p: compile_pattern(p) for p in patterns if p not in self._patterns}
        held = self._held.get(subscriber) or _Subscriptions()
        new = [pattern for pattern in patterns if pattern not in held.patterns]
        self._make_room(subscriber, held, len(new))
        for pattern in new:
            self._patterns.add(pattern, subscriber, compiled.get(pattern))
            held.patterns.add(pattern)
        self._targets.clear()

    def unsubscribe(self, subscriber: ISubscriber, names: Iterable[str]) -> None:
        """
        Drop subscriptions, exact or pattern: as in Pyro 3, each name is
        removed both as a subject and as a pattern.  Names the subscriber
        does not hold are ignored.
        """
        held = self._held.get(subscriber)
        if held is None:
            return
        for name in names:
            key = fold_subject(name)
            if key in held.subjects:
                held.subjects.discard(key)
                self._drop_exact(key, subscriber)
            if name in held.patterns:
                held.patterns.discard(name)
                self._patterns.discard(name, subscriber)
        if not held:
            del self._held[subscriber]
        self._targets.clear()

    def remove(self, subscriber: ISubscriber) -> None:
        """
        Drop every subscription of a subscriber that went away.
        """
        held = self._held.pop(subscriber, None)
        if held is None:
            return
        for key in held.subjects:
            self._drop_exact(key, subscriber)
        for pattern in held.patterns:
            self._patterns.discard(pattern, subscriber)
        self._targets.clear()

    # Fan-out.

    def subscribers_for(self, subject: str) -> tuple[ISubscriber, ...]:
        """
        Every subscriber an event on C{subject} goes to, each once.
        """
        targets = self._targets.get(subject)
        if targets is None:
            found = dict(self._exact.get(fold_subject(subject), ()))
            found.update(dict.fromkeys(self._patterns.match(subject)))
            targets = tuple(found)
            if len(self._targets) >= CACHE_ENTRIES:
                self._targets.clear()
            self._targets[subject] = targets
        return targets

    def publish(self, subject: str, item: bytes) -> Optional[list[ISubscriber]]:
        """
        Offer one encoded event to every subscriber of C{subject}.

        @return: L{None} if every subscriber took it within its bound, else
            the subscribers now over it (block mode), whose room the
            publisher should wait for.
        """
        self.published += 1
        full = None
        for subscriber in self.subscribers_for(subject):
            if subscriber.offer(item):
                if full is None:
                    full = [subscriber]
                else:
                    full.append(subscriber)
        return full

    # Introspection, for statistics and tests.

    @property
    def subscribers(self) -> list[ISubscriber]:
        """
        Every subscriber holding at least one subscription.
        """
        return list(self._held)

    def subscriptions_of(self, subscriber: ISubscriber) -> tuple[set[str], set[str]]:
        """
        The folded subjects and the patterns one subscriber holds.
        """
        held = self._held.get(subscriber) or _Subscriptions()
        return set(held.subjects), set(held.patterns)

    @property
    def subjects(self) -> list[str]:
        """
        Every (folded) subject somebody subscribed to.
        """
        return list(self._exact)

    @property
    def patterns(self) -> list[str]:
        """
        Every pattern somebody subscribed to.
        """
        return self._patterns.patterns

    # Internals.

    def _make_room(
        self, subscriber: ISubscriber, held: _Subscriptions, adding: int
    ) -> None:
        """
        Check that C{subscriber} may hold C{adding} more subscriptions, and
        record C{held} as its holdings if they are new.
        """
        if len(held) + adding > self.max_subscriptions:
            raise TooManySubscriptions(
                f"a connection may hold at most {self.max_subscriptions} "
                f"subscriptions; it holds {len(held)} and asked for {adding} more"
            )
        if adding:
            self._held[subscriber] = held

    def _drop_exact(self, key: str, subscriber: ISubscriber) -> None:
        holders = self._exact.get(key)
        if holders is not None:
            holders.pop(subscriber, None)
            if not holders:
                del self._exact[key]
