"""
The subscription manager: who is subscribed to what, and fan-out.

This is the heart of the server and knows nothing of sockets, codecs or the
reactor.  It keeps exact subscriptions (by case-folded subject) and pattern
subscriptions (L{PatternIndex}), and hands each published event to every
matching L{ISubscriber} exactly once, however many of its subscriptions
match.  It also holds the server's limits on subscriptions: per call, per
subscriber, and in all.

Subscribers are known by number in the subscription tables, so that a
million subscriptions are a million strings and integers, none of which
Python's cyclic garbage collector has to visit: a table of subscriber
objects made its full collections take 100 ms for 100,000 patterns
(measured), a pause for every client.
"""

import itertools
from collections import deque
from typing import Callable, Iterable, Optional

from eventd.errors import BadPattern, LimitExceeded, TooManySubscriptions
from eventd.server.config import Limits
from eventd.server.interfaces import ISubscriber
from eventd.server.patterns import CompiledPattern, PatternIndex, matcher_of
from eventd.wire.subjects import check_subject, compile_pattern, fold_subject, re2_options

CACHE_ENTRIES = 10_000
"""How many subjects' subscriber lists are remembered."""

BYTES_PER_INSTRUCTION = 32
"""The RE2 memory one instruction of a pattern's program takes, with room:
a pattern is compiled with no more memory than its size limit needs, so
RE2 gives up early on a pattern far over it (0.6 ms rather than 24 ms for
r"\\pL{40}", measured)."""


def pattern_memory(max_instructions: int) -> int:
    """
    The memory RE2 may use to compile one pattern of at most this many
    instructions.
    """
    return max(64 * 1024, max_instructions * BYTES_PER_INSTRUCTION)


DEPARTED_PER_TURN = 500
"""How many subscriptions of subscribers that went away are dropped in one
unit of L{SubscriptionManager.work}: about 5 ms (10 microseconds each,
measured), where dropping all 10,000 of one subscriber at once stalled the
server for 100 ms."""

RECENT_PATTERNS = 64
"""How many newly added patterns a remembered subscriber list can catch up
with; an older list is worked out again."""


class _Subscriptions:
    """
    What one subscriber holds: the folded subjects and the patterns; and
    the subscriber's number in the tables.
    """

    __slots__ = ("number", "subjects", "patterns")

    def __init__(self, number: int) -> None:
        self.number = number
        self.subjects: set[str] = set()
        self.patterns: set[str] = set()

    def __len__(self) -> int:
        return len(self.subjects) + len(self.patterns)


class _Targets:
    """
    A remembered answer to "who gets an event on this subject": the
    subscribers, and what it depends on, so that a change of subscriptions
    forgets only the answers it makes wrong.

    @ivar epoch: how many new patterns the index had seen when this was
        worked out.
    """

    __slots__ = ("subscribers", "key", "patterns", "epoch")

    def __init__(self, subscribers: tuple, key: str, patterns: list[str], epoch: int):
        self.subscribers = subscribers
        self.key = key
        self.patterns = patterns
        self.epoch = epoch


class SubscriptionManager:
    """
    Subscriptions of many subscribers, and the fan-out of published events.

    Which subscribers a subject reaches is worked out once and remembered.
    A change forgets only what it affects: an exact subscription the
    subjects that fold to it, a pattern's holders the subjects it matched;
    and a pattern new to the server is tried, when next needed, against each
    remembered subject rather than making them all be worked out again.  So
    a steady stream of events costs one dictionary lookup each, whatever
    other clients do to their subscriptions.
    """

    def __init__(self, limits: Limits = Limits()) -> None:
        """
        @ivar on_work_due: called when work is waiting (pattern shards to
            build, subscriptions of departed subscribers to drop): whoever
            drives the broker then calls L{work}, a turn at a time, until it
            says no more is due.
        @ivar receives: whether a subscriber may receive events on a
            subject (the access list's say), or None if every subscriber
            may receive everything it subscribed to.  Asked once per
            subscriber and subject, when who gets that subject is worked
            out; call L{forget_targets} when its answers change.
        """
        self.limits = limits
        self.on_work_due: Optional[Callable[[], None]] = None
        self.receives: Optional[Callable[[ISubscriber, str], bool]] = None
        self.published = 0
        self._pattern_options = re2_options(pattern_memory(limits.max_pattern_size))
        self._exact: dict[str, dict[int, None]] = {}
        self._patterns: PatternIndex[int] = PatternIndex(self._pattern_work_due)
        self._held: dict[ISubscriber, _Subscriptions] = {}
        self._numbered: dict[int, ISubscriber] = {}
        self._numbers = itertools.count()
        self._departed: deque[_Subscriptions] = deque()
        self._total = 0
        self._targets: dict[str, _Targets] = {}
        self._by_key: dict[str, set[str]] = {}
        self._by_pattern: dict[str, set[str]] = {}
        self._epoch = 0
        self._recent: deque[tuple[int, str]] = deque(maxlen=RECENT_PATTERNS)

    # Subscriptions.

    def subscribe(self, subscriber: ISubscriber, subjects: Iterable[str]) -> None:
        """
        Subscribe to exact subjects (compared without regard to case).

        Either every subject is added or, if one is refused, none is.

        @raise BadSubject: if a subject is unusable.
        @raise LimitExceeded: if the call names too many.
        @raise TooManySubscriptions: past a subscriber's or the server's
            limit.
        """
        subjects = self._within_call_limit(subjects)
        folded = {fold_subject(check_subject(subject)) for subject in subjects}
        held = self._holdings(subscriber)
        new = folded - held.subjects
        self._make_room(subscriber, held, len(new))
        for key in new:
            self._exact.setdefault(key, {})[held.number] = None
            held.subjects.add(key)
            self._forget_key(key)

    def compile(self, pattern: object) -> Optional[CompiledPattern]:
        """
        Check a pattern before it is subscribed to: compiling one is the
        costly part of a subscription, so a caller may spread it over time.

        @return: the pattern compiled, or None if the server holds it
            already (nothing to compile).
        @raise BadPattern: naming the pattern, if RE2 refuses it or it is
            over the size limit (RE2 gives up on such a pattern early,
            within the memory the limit allows, rather than finishing it).
        """
        if isinstance(pattern, str) and pattern in self._patterns:
            return None
        limit = self.limits.max_pattern_size
        too_big = BadPattern(
            f'pattern "{pattern}" compiles to more than {limit} RE2 instructions '
            f"(--max-pattern-size)"
        )
        try:
            size = compile_pattern(pattern, self._pattern_options).programsize
        except BadPattern as refusal:
            raise too_big if "too large" in str(refusal) else refusal
        if size > limit:
            raise too_big
        return CompiledPattern(size, matcher_of([pattern]))

    def subscribe_match(
        self,
        subscriber: ISubscriber,
        patterns: Iterable[str],
        compiled: Optional[dict[str, CompiledPattern]] = None,
    ) -> None:
        """
        Subscribe to every subject a regular expression matches (anchored at
        the start, without regard to case).

        Either every pattern is added or, if one is refused, none is.

        @param compiled: what L{compile} gave each pattern the server does
            not hold yet, if the caller compiled them; else they are
            compiled here.
        @raise BadPattern: naming the first pattern refused, when compiled
            here.
        @raise LimitExceeded: if the call names too many.
        @raise TooManySubscriptions: past a subscriber's or the server's
            limit, of patterns or of their compiled size.
        """
        patterns = list(dict.fromkeys(self._within_call_limit(patterns)))
        if compiled is None:
            compiled = {p: done for p in patterns if (done := self.compile(p)) is not None}
        held = self._holdings(subscriber)
        new = [pattern for pattern in patterns if pattern not in held.patterns]
        growth = sum(compiled[p].size for p in new if p in compiled)
        budget = self.limits.max_pattern_instructions
        if self._patterns.instructions + growth > budget:
            raise TooManySubscriptions(
                f"the server's patterns would take {self._patterns.instructions + growth} "
                f"RE2 instructions; the limit is {budget} (--max-pattern-instructions)"
            )
        self._make_room(subscriber, held, len(new))
        for pattern in new:
            done = compiled.get(pattern)
            if done is None and pattern not in self._patterns:
                done = self.compile(pattern)  # its holders left since
            fresh = self._patterns.add(pattern, held.number, done)
            held.patterns.add(pattern)
            if fresh:
                self._epoch += 1
                self._recent.append((self._epoch, pattern))
            else:
                self._forget_pattern(pattern)

    def unsubscribe(self, subscriber: ISubscriber, names: Iterable[str]) -> None:
        """
        Drop subscriptions, exact or pattern: as in Pyro 3, each name is
        removed both as a subject and as a pattern.  Names the subscriber
        does not hold are ignored.

        @raise LimitExceeded: if the call names too many.
        """
        names = self._within_call_limit(names)
        held = self._held.get(subscriber)
        if held is None:
            return
        for name in names:
            key = fold_subject(name)
            if key in held.subjects:
                held.subjects.discard(key)
                self._drop_exact(key, held.number)
            if name in held.patterns:
                held.patterns.discard(name)
                self._drop_pattern(name, held.number)
        if not held:
            del self._held[subscriber]
            del self._numbered[held.number]

    def remove(self, subscriber: ISubscriber) -> None:
        """
        Forget a subscriber that went away: it gets no event from now on.
        Its subscriptions are dropped by L{work}, L{DEPARTED_PER_TURN} at a
        time, since it may hold thousands; until then they are in the
        tables under its number, which no longer stands for anybody.
        """
        held = self._held.pop(subscriber, None)
        if held is None:
            return
        del self._numbered[held.number]
        for key in held.subjects:
            self._forget_key(key)
        for pattern in held.patterns:
            self._forget_pattern(pattern)
        due = self.work_due
        self._departed.append(held)
        if not due:
            self._work_due()

    @property
    def work_due(self) -> bool:
        """
        Whether L{work} has something to do.
        """
        return bool(self._departed) or self._patterns.work_due

    def work(self) -> bool:
        """
        Do one unit of work, a few milliseconds long: drop subscriptions of
        departed subscribers, or build one shard of patterns (see
        L{eventd.server.patterns}).

        @return: whether more is due.
        """
        if self._departed:
            self._drop_departed(DEPARTED_PER_TURN)
        else:
            self._patterns.work()
        return self.work_due

    def _drop_departed(self, count: int) -> None:
        departed = self._departed
        while departed and count:
            held = departed[0]
            if held.subjects:
                self._drop_exact(held.subjects.pop(), held.number)
            elif held.patterns:
                self._drop_pattern(held.patterns.pop(), held.number)
            else:
                departed.popleft()
                continue
            count -= 1
        while departed and not departed[0]:
            departed.popleft()

    def _pattern_work_due(self) -> None:
        if not self._departed:  # else work is due already
            self._work_due()

    def _work_due(self) -> None:
        if self.on_work_due is not None:
            self.on_work_due()

    # Fan-out.

    def subscribers_for(self, subject: str) -> tuple[ISubscriber, ...]:
        """
        Every subscriber an event on C{subject} goes to, each once.
        """
        targets = self._targets.get(subject)
        if targets is not None and targets.epoch == self._epoch:
            return targets.subscribers
        return self._work_out(subject, targets).subscribers

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
        held = self._held.get(subscriber)
        if held is None:
            return set(), set()
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

    @property
    def subscription_count(self) -> int:
        """
        Subjects and patterns held, over all subscribers.
        """
        return self._total

    @property
    def pattern_instructions(self) -> int:
        """
        The RE2 instructions of every distinct pattern held.
        """
        return self._patterns.instructions

    # Limits.

    def _within_call_limit(self, names: Iterable[str]) -> list[str]:
        names = list(names)
        limit = self.limits.max_call_names
        if len(names) > limit:
            raise LimitExceeded(
                f"one call may name at most {limit} subjects or patterns; this one "
                f"names {len(names)} (--max-call-names)"
            )
        return names

    def _holdings(self, subscriber: ISubscriber) -> _Subscriptions:
        """
        What C{subscriber} holds, or a new, empty holding for it (recorded
        by L{_make_room} once it holds something).
        """
        held = self._held.get(subscriber)
        return held if held is not None else _Subscriptions(next(self._numbers))

    def _make_room(
        self, subscriber: ISubscriber, held: _Subscriptions, adding: int
    ) -> None:
        """
        Check that C{subscriber} may hold C{adding} more subscriptions, and
        record C{held} as its holdings if they are new.
        """
        mine = self.limits.max_subscriptions
        if len(held) + adding > mine:
            raise TooManySubscriptions(
                f"a connection may hold at most {mine} subscriptions; it holds "
                f"{len(held)} and asked for {adding} more (--max-subscriptions)"
            )
        everybody = self.limits.max_total_subscriptions
        if self._total + adding > everybody:
            raise TooManySubscriptions(
                f"the server holds {self._total} subscriptions, its limit is "
                f"{everybody} (--max-total-subscriptions)"
            )
        if adding:
            self._held[subscriber] = held
            self._numbered[held.number] = subscriber
            self._total += adding

    def _drop_exact(self, key: str, number: int) -> None:
        holders = self._exact.get(key)
        if holders is None or number not in holders:
            return
        del holders[number]
        self._total -= 1
        if not holders:
            del self._exact[key]
        self._forget_key(key)

    def _drop_pattern(self, pattern: str, number: int) -> None:
        if number in self._patterns.owners_of(pattern):
            self._total -= 1
            self._patterns.discard(pattern, number)
            self._forget_pattern(pattern)

    # Remembered targets.

    def _work_out(self, subject: str, stale: Optional[_Targets]) -> _Targets:
        """
        Who gets an event on C{subject}: from what was remembered, if only
        a few patterns are new since, else from scratch.
        """
        key = fold_subject(subject)
        if stale is not None and self._recent and stale.epoch >= self._recent[0][0] - 1:
            patterns = stale.patterns + [
                pattern
                for epoch, pattern in self._recent
                if epoch > stale.epoch
                and pattern in self._patterns
                and self._patterns.matches(pattern, subject)
            ]
            self._forget(subject)
        else:
            if stale is not None:
                self._forget(subject)
            patterns = self._patterns.match(subject)
        found = dict.fromkeys(self._exact.get(key, ()))
        for pattern in patterns:
            found.update(dict.fromkeys(self._patterns.owners_of(pattern)))
        if len(self._targets) >= CACHE_ENTRIES:
            self.forget_targets()
        numbered = self._numbered
        subscribers = tuple(numbered[n] for n in found if n in numbered)  # not departed
        if self.receives is not None:
            receives = self.receives
            subscribers = tuple(s for s in subscribers if receives(s, subject))
        targets = _Targets(subscribers, key, patterns, self._epoch)
        self._targets[subject] = targets
        self._by_key.setdefault(key, set()).add(subject)
        for pattern in patterns:
            self._by_pattern.setdefault(pattern, set()).add(subject)
        return targets

    def forget_targets(self) -> None:
        """
        Work out anew who gets each subject: L{receives} answers otherwise
        now.
        """
        self._targets.clear()
        self._by_key.clear()
        self._by_pattern.clear()

    def _forget_key(self, key: str) -> None:
        for subject in list(self._by_key.get(key, ())):
            self._forget(subject)

    def _forget_pattern(self, pattern: str) -> None:
        for subject in list(self._by_pattern.get(pattern, ())):
            self._forget(subject)

    def _forget(self, subject: str) -> None:
        targets = self._targets.pop(subject, None)
        if targets is None:
            return
        _discard(self._by_key, targets.key, subject)
        for pattern in targets.patterns:
            _discard(self._by_pattern, pattern, subject)


def _discard(index: dict[str, set[str]], name: str, subject: str) -> None:
    subjects = index.get(name)
    if subjects is not None:
        subjects.discard(subject)
        if not subjects:
            del index[name]
