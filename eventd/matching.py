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

from typing import Generic, Hashable, Iterable, TypeVar

import re2

from eventd.errors import BadPattern, BadSubject

MAX_SUBJECT_LENGTH = 1024
"""The longest subject, or pattern, in characters."""

PATTERN_MEMORY_BYTES = 1 << 20
"""The memory RE2 may use for one compiled pattern."""

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
    is rebuilt lazily after the patterns change.
    """

    def __init__(self) -> None:
        self._owners: dict[str, dict[Owner, None]] = {}
        self._compiled: "re2.Set | None" = None
        self._order: list[str] = []

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

    def add(self, pattern: str, owner: Owner) -> None:
        """
        Let C{owner} hold C{pattern}, which L{compile_pattern} accepted.
        """
        owners = self._owners.get(pattern)
        if owners is None:
            owners = self._owners[pattern] = {}
            self._compiled = None
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
            self._compiled = None

    def match(self, subject: str) -> Iterable[Owner]:
        """
        The owners of every pattern that matches C{subject}, each once.
        """
        if not self._owners:
            return ()
        if self._compiled is None:
            self._compile()
        indexes = self._compiled.Match(subject)
        if not indexes:
            return ()
        found: dict[Owner, None] = {}
        for index in sorted(indexes):
            found.update(self._owners[self._order[index]])
        return found.keys()

    def _compile(self) -> None:
        patterns = re2.Set.MatchSet(_OPTIONS)
        self._order = list(self._owners)
        for pattern in self._order:
            patterns.Add(pattern)
        patterns.Compile()
        self._compiled = patterns
