"""
Subjects and patterns: how a published subject finds its subscriptions.

Subjects are case-insensitive, as in Pyro 3: exact subscriptions are keyed by
the case-folded subject.  Patterns are regular expressions with C{re.match}
semantics (anchored at the start of the subject), matched without regard to
case.  They are compiled with RE2, which runs in time linear in the subject
whatever the pattern, so no subscriber can stall the server with a
catastrophic pattern; constructs RE2 does not have (backreferences,
lookaround) are refused.
"""

from typing import Callable, Generic, Hashable, Iterable, Optional, Sequence, TypeVar

import re2
from twisted.logger import Logger

from eventd.errors import BadPattern, BadSubject

MAX_SUBJECT_LENGTH = 1024
"""The longest subject, or pattern, in characters."""

PATTERN_MEMORY_BYTES = 1 << 20
"""The memory RE2 may use for one compiled pattern."""

PATTERN_SET_MEMORY_BYTES = 64 << 20
"""The memory RE2 may use for the set of all patterns, matched in one pass."""

Owner = TypeVar("Owner", bound=Hashable)


def fold_subject(subject: str) -> str:
    """
    The key under which a subject is matched: the same for every spelling
    that differs only in case.
    """
    return subject.casefold()


def check_subject(subject: object) -> str:
    """
    Return C{subject} if it can be published or subscribed to.

    @raise BadSubject: if it is not a non-empty string of at most
        L{MAX_SUBJECT_LENGTH} characters.
    """
    if not isinstance(subject, str):
        raise BadSubject(f"a subject must be a string, not {type(subject).__name__}")
    if not subject:
        raise BadSubject("a subject must not be empty")
    if len(subject) > MAX_SUBJECT_LENGTH:
        raise BadSubject(
            f"subject {subject[:40]!r}... is {len(subject)} characters long; "
            f"the limit is {MAX_SUBJECT_LENGTH}"
        )
    return subject


def _options() -> re2.Options:
    options = re2.Options()
    options.case_sensitive = False
    # RE2 otherwise writes a line to stderr for every refused pattern: a
    # hostile client could flood the server's log that way.
    options.log_errors = False
    options.max_mem = PATTERN_MEMORY_BYTES
    return options


_OPTIONS = _options()


def compile_pattern(pattern: object) -> "re2._Regexp":
    """
    Compile one subscription pattern.

    @raise BadPattern: naming the pattern and RE2's reason, if it cannot be
        used.
    """
    if not isinstance(pattern, str) or not pattern:
        raise BadPattern(f"a pattern must be a non-empty string, not {pattern!r}")
    if len(pattern) > MAX_SUBJECT_LENGTH:
        raise BadPattern(
            f"pattern {pattern[:40]!r}... is {len(pattern)} characters long; "
            f"the limit is {MAX_SUBJECT_LENGTH}"
        )
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as e:
        reason = e.args[0] if e.args else e
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise BadPattern(f"pattern \"{pattern}\" is not valid for RE2: {reason}") from None


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
        options = _options()
        options.max_mem = PATTERN_SET_MEMORY_BYTES
        patterns = re2.Set.MatchSet(options)
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
