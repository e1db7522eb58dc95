"""
Subjects and patterns: the rule by which a published subject matches a
subscription, which the server (to route events) and the Twisted client (to
pick handlers) both follow.

Subjects are case-insensitive, as in Pyro 3: exact subscriptions are keyed by
the case-folded subject.  Patterns are regular expressions with C{re.match}
semantics (anchored at the start of the subject), matched without regard to
case.  They are compiled with RE2, which runs in time linear in the subject
whatever the pattern, so no subscriber can stall the server with a
catastrophic pattern; constructs RE2 does not have (backreferences,
lookaround) are refused.
"""

import re2

from eventd.errors import BadPattern, BadSubject

MAX_SUBJECT_LENGTH = 1024
"""The longest subject, or pattern, in characters."""

PATTERN_MEMORY_BYTES = 1 << 20
"""The memory RE2 may use for one compiled pattern."""


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


def re2_options(max_mem: int = PATTERN_MEMORY_BYTES) -> re2.Options:
    """
    How subscription patterns are compiled: without regard to case, in at
    most C{max_mem} bytes, and quietly.
    """
    options = re2.Options()
    options.case_sensitive = False
    # RE2 otherwise writes a line to stderr for every refused pattern: a
    # hostile client could flood the server's log that way.
    options.log_errors = False
    options.max_mem = max_mem
    return options


_OPTIONS = re2_options()


def compile_pattern(pattern: object, options: re2.Options = _OPTIONS) -> "re2._Regexp":
    """
    Compile one subscription pattern.

    @param options: RE2's options, from L{re2_options}: by default, a
        program of at most L{PATTERN_MEMORY_BYTES}.
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
        return re2.compile(pattern, options)
    except re2.error as e:
        reason = e.args[0] if e.args else e
        if isinstance(reason, bytes):
            reason = reason.decode("utf-8", "replace")
        raise BadPattern(f"pattern \"{pattern}\" is not valid for RE2: {reason}") from None
