"""
The server's index of pattern subscriptions: every pattern of every
subscriber, matched against a subject at once.
"""

from typing import Callable, Generic, Hashable, Iterable, Optional, Sequence, TypeVar

import re2
from twisted.logger import Logger

from eventd.wire.subjects import compile_pattern, re2_options

PATTERN_SET_MEMORY_BYTES = 64 << 20
"""The memory RE2 may use for the set of all patterns, matched in one pass."""

Owner = TypeVar("Owner", bound=Hashable)


class PatternIndex(Generic[Owner]):
    """
    Patterns, each held by one or more owners, matched all at once.

    All distinct patterns go into one RE2 set, so a subject is matched
    against every pattern in a single pass however many there are.  The set
    is rebuilt lazily after the patterns change.  Should the set outgrow
    L{PATTERN_SET_MEMORY_BYTES}, matching falls back to trying each pattern
    in turn: slower, but every subscriber still gets its events.
    """

    log = Logger()

    def __init__(self) -> None:
        self._owners: dict[str, dict[Owner, None]] = {}
        self._regexps: dict[str, "re2._Regexp"] = {}
        self._matcher: Optional[Callable[[str], Sequence[str]]] = None

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

    def add(
        self, pattern: str, owner: Owner, regexp: "Optional[re2._Regexp]" = None
    ) -> None:
        """
        Let C{owner} hold C{pattern}.

        @param regexp: C{pattern} compiled by L{compile_pattern}, if the
            caller has done so already (to check a batch before adding any).
        @raise BadPattern: if L{compile_pattern} refuses a new pattern.
        """
        owners = self._owners.get(pattern)
        if owners is None:
            self._regexps[pattern] = regexp or compile_pattern(pattern)
            owners = self._owners[pattern] = {}
            self._matcher = None
        owners[owner] = None

    def discard(self, pattern: str, owner: Owner) -> None:
        """
        Let C{owner} no longer hold C{pattern}; a no-op if it did not.
        """
        owners = self._owners.get(pattern)
        if owners is None or owner not in owners:
            return
        del owners[owner]
        if not owners:
            del self._owners[pattern]
            del self._regexps[pattern]
            self._matcher = None

    def match(self, subject: str) -> Iterable[Owner]:
        """
        The owners of every pattern that matches C{subject}, each once.
        """
        if not self._owners:
            return ()
        if self._matcher is None:
            self._matcher = self._build_matcher()
        matched = self._matcher(subject)
        if not matched:
            return ()
        found: dict[Owner, None] = {}
        for pattern in matched:
            found.update(self._owners[pattern])
        return found.keys()

    def _build_matcher(self) -> Callable[[str], Sequence[str]]:
        order = list(self._owners)
        patterns = re2.Set.MatchSet(re2_options(PATTERN_SET_MEMORY_BYTES))
        try:
            for pattern in order:
                patterns.Add(pattern)
            patterns.Compile()
        except re2.error:
            self.log.warn(
                "{count} patterns outgrow one RE2 set of {limit} bytes; "
                "matching them one by one",
                count=len(order),
                limit=PATTERN_SET_MEMORY_BYTES,
            )
            regexps = [(pattern, self._regexps[pattern]) for pattern in order]
            return lambda subject: [p for p, r in regexps if r.match(subject)]

        def by_set(subject: str) -> Sequence[str]:
            indexes = patterns.Match(subject)
            return [order[index] for index in sorted(indexes)] if indexes else ()

        return by_set
