"""
The server's index of pattern subscriptions: every pattern of every
subscriber, matched against a subject at once, and cheap to change.

Patterns live in shards: RE2 sets of at most L{SHARD_INSTRUCTIONS}
instructions each, so that no set is costly to build and a subject is
matched against all patterns in one pass per shard.  A pattern added joins
the newcomers, matched one by one (each with an RE2 set of its own, built
when the pattern was compiled: google-re2's C{Regexp.match} costs three
times a set's match, in its Python wrapper).  A pattern removed is only
marked gone in its shard.

Building shards is the costly part, so it is never done by an add or a
remove: they only say that there is work (L{PatternIndex.work_due}), and
whoever drives the index calls L{PatternIndex.work} for one unit at a time
(build one shard of newcomers, or rebuild one shard half gone), one per
turn of the reactor.  Matching never falls back to trying every pattern in
turn, whatever clients subscribe.
"""

from collections import deque
from typing import Callable, Generic, Hashable, Iterable, NamedTuple, Optional, Sequence, TypeVar

import re2

from eventd.wire.subjects import re2_options

SHARD_INSTRUCTIONS = 5_000
"""The most RE2 instructions one shard's set holds: building one takes one
to three milliseconds (0.3 to 0.8 microseconds an instruction, measured)."""

SHARD_MEMORY_BYTES = 64 << 20
"""The memory RE2 may use for one shard's set."""

NEWCOMERS = 16
"""How many added patterns are matched one by one before they are due to
be built into a shard."""

Owner = TypeVar("Owner", bound=Hashable)


def matcher_of(patterns: Sequence[str]) -> re2.Set:
    """
    An RE2 set of these patterns, compiled: it matches a subject against
    all of them in one pass, anchored at the start, without regard to case.

    @raise re2.error: if RE2 cannot build it within L{SHARD_MEMORY_BYTES}.
    """
    matcher = re2.Set.MatchSet(re2_options(SHARD_MEMORY_BYTES))
    for pattern in patterns:
        matcher.Add(pattern)
    matcher.Compile()
    return matcher


class CompiledPattern(NamedTuple):
    """
    A pattern ready to be held: the size of its program, and its own
    matcher, for while it is a newcomer.
    """

    size: int
    matcher: re2.Set


class _Shard:
    """
    Some patterns, matched together by one RE2 set.

    @ivar patterns: the patterns, by their index in the set.
    @ivar index_of: the index of each pattern.
    @ivar gone: indexes of patterns no longer held.
    @ivar size: the RE2 instructions of its patterns.
    """

    def __init__(self, patterns: Sequence[str], size: int) -> None:
        self.patterns = list(patterns)
        self.index_of = {pattern: index for index, pattern in enumerate(self.patterns)}
        self.gone: set[int] = set()
        self.size = size
        self._set = matcher_of(self.patterns)

    def match(self, subject: str) -> list[str]:
        indexes = self._set.Match(subject)
        if not indexes:
            return []
        return [self.patterns[i] for i in indexes if i not in self.gone]

    @property
    def live(self) -> list[str]:
        return [p for i, p in enumerate(self.patterns) if i not in self.gone]


class PatternIndex(Generic[Owner]):
    """
    Patterns, each held by one or more owners, matched all at once.

    @ivar instructions: the RE2 instructions of every distinct pattern held.
    @ivar on_work_due: called, with no argument, when work becomes due that
        was not.
    """

    def __init__(self, on_work_due: Optional[Callable[[], None]] = None) -> None:
        self._owners: dict[str, dict[Owner, None]] = {}
        self._sizes: dict[str, int] = {}
        self._newcomers: dict[str, re2.Set] = {}
        self._shards: list[_Shard] = []
        self._shard_of: dict[str, _Shard] = {}
        self._to_rebuild: deque[_Shard] = deque()
        self.instructions = 0
        self.on_work_due = on_work_due

    def __len__(self) -> int:
        return len(self._owners)

    def __contains__(self, pattern: str) -> bool:
        return pattern in self._owners

    @property
    def patterns(self) -> list[str]:
        """
        The distinct patterns held.
        """
        return list(self._owners)

    def owners_of(self, pattern: str) -> Iterable[Owner]:
        """
        Who holds C{pattern}.
        """
        return self._owners.get(pattern, {}).keys()

    def add(self, pattern: str, owner: Owner, compiled: CompiledPattern) -> bool:
        """
        Let C{owner} hold C{pattern}, compiled as C{compiled}.

        @return: whether the pattern is new to the index (nobody held it).
        """
        owners = self._owners.get(pattern)
        if owners is not None:
            owners[owner] = None
            return False
        self._owners[pattern] = {owner: None}
        self._sizes[pattern] = compiled.size
        self.instructions += compiled.size
        shard = self._shard_of.get(pattern)
        if shard is not None:  # marked gone, not rebuilt away: back again
            shard.gone.discard(shard.index_of[pattern])
        else:
            due = self.work_due
            self._newcomers[pattern] = compiled.matcher
            if not due and self.work_due:
                self._tell_work_due()
        return True

    def discard(self, pattern: str, owner: Owner) -> bool:
        """
        Let C{owner} no longer hold C{pattern}; a no-op if it did not.

        @return: whether the pattern left the index (nobody holds it now).
        """
        owners = self._owners.get(pattern)
        if owners is None or owner not in owners:
            return False
        del owners[owner]
        if owners:
            return False
        del self._owners[pattern]
        self.instructions -= self._sizes.pop(pattern)
        if self._newcomers.pop(pattern, None) is None:
            shard = self._shard_of[pattern]
            shard.gone.add(shard.index_of[pattern])
            if len(shard.gone) == len(shard.patterns):
                self._drop_shard(shard)  # nothing left to build
            elif len(shard.gone) * 2 >= len(shard.patterns) and shard not in self._to_rebuild:
                due = self.work_due
                self._to_rebuild.append(shard)
                if not due:
                    self._tell_work_due()
        return True

    def match(self, subject: str) -> list[str]:
        """
        Every pattern held that matches C{subject}.
        """
        matched = []
        for shard in self._shards:
            matched.extend(shard.match(subject))
        for pattern, matcher in self._newcomers.items():
            if matcher.Match(subject):
                matched.append(pattern)
        return matched

    def matches(self, pattern: str, subject: str) -> bool:
        """
        Whether C{pattern}, held, matches C{subject}.
        """
        matcher = self._newcomers.get(pattern)
        if matcher is not None:
            return bool(matcher.Match(subject))
        return pattern in self._shard_of[pattern].match(subject)

    # Building shards, a unit at a time.

    @property
    def work_due(self) -> bool:
        """
        Whether shards are waiting to be built: newcomers enough for one, or
        a shard half gone.
        """
        return len(self._newcomers) >= NEWCOMERS or bool(self._to_rebuild)

    def work(self) -> bool:
        """
        Build one shard (of at most L{SHARD_INSTRUCTIONS}): of newcomers, or
        a shard half gone without its gone patterns.

        @return: whether more work is due.
        """
        if self._to_rebuild:
            shard = self._to_rebuild.popleft()
            if shard in self._shards:
                self._drop_shard(shard)
                self._build(shard.live)
        elif len(self._newcomers) >= NEWCOMERS:
            patterns = self._first_shard_of_newcomers()
            for pattern in patterns:
                del self._newcomers[pattern]
            self._build(patterns)
        return self.work_due

    def _first_shard_of_newcomers(self) -> list[str]:
        shard: list[str] = []
        size = 0
        for pattern in self._newcomers:
            cost = self._sizes[pattern]
            if shard and size + cost > SHARD_INSTRUCTIONS:
                break
            shard.append(pattern)
            size += cost
        return shard

    def _build(self, patterns: list[str]) -> None:
        """
        Build a shard of these patterns.  Should RE2 refuse the set (within
        its instruction budget it should not), each pattern becomes a shard
        of its own.
        """
        if not patterns:
            return
        try:
            shards = [_Shard(patterns, sum(self._sizes[p] for p in patterns))]
        except re2.error:
            shards = [_Shard([p], self._sizes[p]) for p in patterns]
        for shard in shards:
            self._shards.append(shard)
            for pattern in shard.patterns:
                self._shard_of[pattern] = shard

    def _drop_shard(self, shard: _Shard) -> None:
        self._shards.remove(shard)
        for pattern in shard.patterns:
            del self._shard_of[pattern]

    def _tell_work_due(self) -> None:
        if self.on_work_due is not None:
            self.on_work_due()
