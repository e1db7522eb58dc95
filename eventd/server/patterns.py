"""
The server's index of pattern subscriptions: every pattern of every
subscriber, matched against a subject at once, and cheap to change.

Patterns live in shards: RE2 sets of at most L{SHARD_INSTRUCTIONS}
instructions each, so that no set is costly to build and a subject is
matched against all patterns in one pass per shard.  A pattern added joins a
short list of newcomers, matched one by one, until there are L{NEWCOMERS}
of them; they then become a shard of their own, or join the last shard if
it has room.  (One by one means one RE2 set each: google-re2's
C{Regexp.match} costs three times a set's match, in its Python wrapper.)
A pattern removed is only marked gone in its shard, which is rebuilt once
half of it is gone.  So adding or removing a pattern, however often, never
rebuilds more than one shard, and matching never falls back to trying
every pattern in turn.
"""

from typing import Generic, Hashable, Iterable, Sequence, TypeVar

import re2

from eventd.wire.subjects import re2_options

SHARD_INSTRUCTIONS = 10_000
"""The most RE2 instructions one shard's set holds: building one takes a
few milliseconds (0.3 to 0.8 microseconds an instruction, measured)."""

SHARD_MEMORY_BYTES = 64 << 20
"""The memory RE2 may use for one shard's set."""

NEWCOMERS = 16
"""How many added patterns are matched one by one before they are built
into a shard."""

Owner = TypeVar("Owner", bound=Hashable)


def _matcher(patterns: Sequence[str]) -> re2.Set:
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


class _Shard:
    """
    Some patterns, matched together by one RE2 set.

    @ivar patterns: the patterns, by their index in the set.
    @ivar gone: indexes of patterns no longer held.
    @ivar size: the RE2 instructions of its patterns.
    """

    def __init__(self, patterns: Sequence[str], size: int) -> None:
        self.patterns = list(patterns)
        self.gone: set[int] = set()
        self.size = size
        self._set = _matcher(self.patterns)

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
    """

    def __init__(self) -> None:
        self._owners: dict[str, dict[Owner, None]] = {}
        self._sizes: dict[str, int] = {}
        self._newcomers: dict[str, re2.Set] = {}
        self._shards: list[_Shard] = []
        self._shard_of: dict[str, tuple[_Shard, int]] = {}
        self.instructions = 0

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

    def add(self, pattern: str, owner: Owner, size: int) -> bool:
        """
        Let C{owner} hold C{pattern}, a valid pattern whose compiled program
        has C{size} instructions.

        @return: whether the pattern is new to the index (nobody held it).
        """
        owners = self._owners.get(pattern)
        if owners is not None:
            owners[owner] = None
            return False
        self._owners[pattern] = {owner: None}
        self._sizes[pattern] = size
        self.instructions += size
        placed = self._shard_of.get(pattern)
        if placed is not None:  # marked gone, never rebuilt away: back again
            placed[0].gone.discard(placed[1])
        else:
            self._newcomers[pattern] = _matcher([pattern])
            if len(self._newcomers) >= NEWCOMERS:
                self._settle_newcomers()
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
            shard, index = self._shard_of[pattern]
            shard.gone.add(index)
            if len(shard.gone) * 2 >= len(shard.patterns):
                self._rebuild(shard)
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
        shard, _ = self._shard_of[pattern]
        return pattern in shard.match(subject)

    # Shards.

    def _settle_newcomers(self) -> None:
        """
        Build the newcomers into shards: into the last one while it has
        room, then into new ones.
        """
        newcomers, self._newcomers = list(self._newcomers), {}
        last = self._shards[-1] if self._shards else None
        if last is not None and last.size < SHARD_INSTRUCTIONS:
            self._drop_shard(last)
            newcomers = last.live + newcomers
        for patterns in self._in_shards(newcomers):
            self._add_shard(patterns)

    def _rebuild(self, shard: _Shard) -> None:
        """
        Build a shard again without the patterns gone from it.
        """
        self._drop_shard(shard)
        if shard.live:
            self._add_shard(shard.live)

    def _drop_shard(self, shard: _Shard) -> None:
        self._shards.remove(shard)
        for pattern in shard.patterns:
            del self._shard_of[pattern]

    def _in_shards(self, patterns: list[str]) -> Iterable[list[str]]:
        shard: list[str] = []
        size = 0
        for pattern in patterns:
            cost = self._sizes[pattern]
            if shard and size + cost > SHARD_INSTRUCTIONS:
                yield shard
                shard, size = [], 0
            shard.append(pattern)
            size += cost
        if shard:
            yield shard

    def _add_shard(self, patterns: list[str]) -> None:
        size = sum(self._sizes[p] for p in patterns)
        try:
            shard = _Shard(patterns, size)
        except re2.error:
            # Within its instruction budget a set compiles; should RE2 think
            # otherwise, the patterns are matched one by one.
            self._newcomers.update((p, _matcher([p])) for p in patterns)
            return
        self._shards.append(shard)
        for index, pattern in enumerate(patterns):
            self._shard_of[pattern] = (shard, index)
