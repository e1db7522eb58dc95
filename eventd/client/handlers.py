"""
Which handlers an event goes to: the Twisted client's table of its own
subscriptions.

A subject matches as the server matches it (L{eventd.wire.subjects}): exact
subjects without regard to case, patterns anchored at the start.  The
server sends a connection each event once, however many of its
subscriptions match; the table then picks every distinct handler whose
subscription matches, so each runs once too.
"""

from typing import Any, Callable, Iterable

from eventd.wire.subjects import check_subject, compile_pattern, fold_subject

Handler = Callable[[Any], Any]

CACHE_ENTRIES = 10_000
"""How many subjects' handler lists are remembered between changes."""


class HandlerTable:
    """
    Handlers by the subjects and patterns they were subscribed with.
    """

    def __init__(self) -> None:
        self._exact: dict[str, dict[Handler, None]] = {}
        self._patterns: dict[str, tuple[Any, dict[Handler, None]]] = {}
        self._found: dict[str, tuple[Handler, ...]] = {}

    @property
    def subjects(self) -> list[str]:
        """
        Every subject (case-folded) some handler is subscribed to.
        """
        return list(self._exact)

    @property
    def patterns(self) -> list[str]:
        """
        Every pattern some handler is subscribed to.
        """
        return list(self._patterns)

    def add_subjects(self, handler: Handler, subjects: Iterable[str]) -> None:
        """
        Call C{handler} for events on these subjects (any case).
        """
        for subject in subjects:
            self._exact.setdefault(fold_subject(check_subject(subject)), {})[handler] = None
        self._found.clear()

    def add_patterns(self, handler: Handler, patterns: Iterable[str]) -> None:
        """
        Call C{handler} for events on subjects these patterns match.

        @raise eventd.errors.BadPattern: if RE2 refuses one.
        """
        for pattern in patterns:
            if pattern not in self._patterns:
                self._patterns[pattern] = (compile_pattern(pattern), {})
            self._patterns[pattern][1][handler] = None
        self._found.clear()

    def remove(self, names: Iterable[str]) -> None:
        """
        Forget these subjects and patterns, whichever handlers they were
        for: as on the server, each name is dropped as a subject and as a
        pattern.
        """
        for name in names:
            self._exact.pop(fold_subject(name), None)
            self._patterns.pop(name, None)
        self._found.clear()

    def handlers_for(self, subject: str) -> tuple[Handler, ...]:
        """
        Every distinct handler an event on C{subject} goes to, each once.
        """
        found = self._found.get(subject)
        if found is None:
            matched = dict(self._exact.get(fold_subject(subject), ()))
            for regexp, handlers in self._patterns.values():
                if regexp.match(subject):
                    matched.update(handlers)
            found = tuple(matched)
            if len(self._found) >= CACHE_ENTRIES:
                self._found.clear()
            self._found[subject] = found
        return found
