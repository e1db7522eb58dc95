"""
The access list: which subjects each user may publish and subscribe to, and
whether they may read the server's stats, as the operator writes it in the
TOML file given with C{twistd eventd --acl FILE}:

    # Every logged-in user without a section of their own.
    [default]
    publish = { allow = [".*"] }
    subscribe = { allow = [".*"], deny = ["payroll\\\\..*"] }
    stats = false

    # Connections that did not log in (a server run with --allow-anonymous).
    [anonymous]
    subscribe = { allow = ["public\\\\..*"] }

    [users.alice]
    publish = { allow = ["orders\\\\..*"], deny = ["orders\\\\.audit"] }
    subscribe = { allow = [".*"] }
    stats = true

A user with a section of their own gets exactly that section, not merged
with C{[default]}: what an operator reads in it is all the user may do.
Anonymous connections get C{[anonymous]}, or C{[default]} if there is none.
Whatever is not written is not granted: a missing section, a missing
C{allow} list, a missing C{stats}.

Patterns are RE2 regular expressions, as for subscriptions, and matched
without regard to case, as subjects are; but unlike a subscription pattern
each must match the I{whole} subject, so that allowing C{public} does not
also allow C{publicity.secret}.  A subject is permitted when some C{allow}
pattern matches it and no C{deny} pattern does.

The server asks for every subject of every publish and at every fan-out, so
each list is compiled once into one RE2 set, and each answer is kept: a
steady stream of the same subjects costs a dict lookup.
"""

import tomllib
from typing import Mapping, Optional

import re2

from eventd.wire.subjects import re2_options

SET_MEMORY_BYTES = 16 << 20
"""The memory RE2 may use for one C{allow} or C{deny} list's set: an access
list is written by the operator, but a mistyped repetition should fail at
startup, not take the server's memory."""

CACHE_SUBJECTS = 10_000
"""How many subjects' answers one rule keeps; when full, it forgets them
all and starts again, which costs less than keeping track of which are
still in use."""

SECTION_KEYS = ("publish", "subscribe", "stats")
RULE_KEYS = ("allow", "deny")

_TOML_TYPES = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a float",
    list: "an array",
    dict: "a table",
}


class AccessListError(ValueError):
    """
    An access list cannot be used: its message names the file, the key and
    what is wrong with it, so that the operator can fix it from the one
    line the server logs as it refuses to start.
    """


class _Invalid(Exception):
    """
    What is wrong at one key of the file, before the file is named: see
    L{AccessList.from_text}.
    """

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(key, problem)
        self.key = key
        self.problem = problem


class SubjectRule:
    """
    Which subjects one action (publishing, or subscribing) is allowed on:
    those matched by some C{allow} pattern and by no C{deny} pattern.

    Each answer is kept (up to L{CACHE_SUBJECTS} subjects), as the server
    asks again for every event.
    """

    def __init__(self, allow: Optional[re2.Set], deny: Optional[re2.Set]) -> None:
        """
        @param allow: the C{allow} patterns, as a set anchored at both ends;
            L{None} allows nothing.
        @param deny: the C{deny} patterns, likewise; L{None} denies nothing.
        """
        self._allow = allow
        self._deny = deny
        self._answers: dict[str, bool] = {}

    def permits(self, subject: str) -> bool:
        """
        Whether the action is allowed on C{subject}.
        """
        answer = self._answers.get(subject)
        if answer is None:
            answer = self._decide(subject)
            if len(self._answers) >= CACHE_SUBJECTS:
                self._answers.clear()
            self._answers[subject] = answer
        return answer

    def _decide(self, subject: str) -> bool:
        if self._allow is None or not self._allow.Match(subject):
            return False
        return self._deny is None or not self._deny.Match(subject)


class Grants:
    """
    What one user may do.

    @ivar may_read_stats: whether the user may ask for the server's stats,
        which tell of every connection, not only the user's own.
    """

    def __init__(self, publish: SubjectRule, subscribe: SubjectRule, may_read_stats: bool) -> None:
        self._publish = publish
        self._subscribe = subscribe
        self.may_read_stats = may_read_stats

    def may_publish(self, subject: str) -> bool:
        """
        Whether the user may publish to C{subject}.
        """
        return self._publish.permits(subject)

    def may_subscribe(self, subject: str) -> bool:
        """
        Whether the user may receive events published to C{subject}.
        """
        return self._subscribe.permits(subject)


def _pattern_set(patterns: list[str], key: str) -> re2.Set:
    """
    One RE2 set of C{patterns}, each matched against the whole subject,
    without regard to case.

    @param key: where the patterns are written, for errors.
    @raise _Invalid: if RE2 refuses a pattern, or the set needs more than
        L{SET_MEMORY_BYTES}.
    """
    options = re2_options(SET_MEMORY_BYTES)
    matcher = re2.Set.FullMatchSet(options)
    for pattern in patterns:
        try:
            matcher.Add(pattern)
        except re2.error:
            # The set says only that it failed; compiling the pattern alone
            # says why.
            reason = _reason_refused(pattern, options)
            raise _Invalid(key, f"{pattern!r} is not a pattern RE2 accepts: {reason}") from None
    try:
        matcher.Compile()
    except re2.error:
        raise _Invalid(
            key, f"the patterns need more than {SET_MEMORY_BYTES / (1 << 20):g} MiB of RE2's memory"
        ) from None
    return matcher


def _reason_refused(pattern: str, options: re2.Options) -> str:
    try:
        re2.compile(pattern, options)
    except re2.error as e:
        reason = e.args[0] if e.args else ""
        return reason.decode("utf-8", "replace") if isinstance(reason, bytes) else str(reason)
    return "refused in a set"


NOTHING = Grants(SubjectRule(None, None), SubjectRule(None, None), may_read_stats=False)
"""What a user gets when the access list has no section for them."""

ALLOW_ALL = Grants(
    SubjectRule(_pattern_set(["(?s).*"], "ALLOW_ALL"), None),
    SubjectRule(_pattern_set(["(?s).*"], "ALLOW_ALL"), None),
    may_read_stats=True,
)
"""What every client gets when the server runs without an access list."""


def _key(*parts: str) -> str:
    """
    A dotted key as TOML writes it, quoting the parts that need it (a user
    name with a dot, say).
    """
    return ".".join(
        part if part and all(c.isascii() and (c.isalnum() or c in "-_") for c in part)
        else f'"{part}"'
        for part in parts
    )


def _expect(value: object, kind: type, key: str) -> None:
    if not isinstance(value, kind):
        raise _Invalid(
            key,
            f"must be {_TOML_TYPES[kind]}, not {_TOML_TYPES.get(type(value), 'a date or time')}",
        )


def _check_keys(table: Mapping[str, object], known: tuple[str, ...], *where: str) -> None:
    for name in table:
        if name not in known:
            raise _Invalid(
                _key(*where, name),
                f"not a key eventd knows (expected {', '.join(known[:-1])} or {known[-1]})",
            )


def _rule(table: Mapping[str, object], *where: str) -> SubjectRule:
    """
    The rule of a C{publish} or C{subscribe} table.
    """
    _check_keys(table, RULE_KEYS, *where)
    sets: dict[str, Optional[re2.Set]] = {}
    for name in RULE_KEYS:
        patterns = table.get(name)
        if patterns is None:
            sets[name] = None
            continue
        _expect(patterns, list, _key(*where, name))
        for index, pattern in enumerate(patterns):
            _expect(pattern, str, f"{_key(*where, name)}[{index}]")
        sets[name] = _pattern_set(patterns, _key(*where, name))
    return SubjectRule(sets["allow"], sets["deny"])


def _section(table: object, *where: str) -> Grants:
    """
    The grants of one section (C{default}, C{anonymous}, or a user's).
    """
    _expect(table, dict, _key(*where))
    _check_keys(table, SECTION_KEYS, *where)
    rules = {}
    for name in ("publish", "subscribe"):
        rule = table.get(name, {})
        _expect(rule, dict, _key(*where, name))
        rules[name] = _rule(rule, *where, name)
    stats = table.get("stats", False)
    _expect(stats, bool, _key(*where, "stats"))
    return Grants(rules["publish"], rules["subscribe"], stats)


class AccessList:
    """
    The grants of every user, as one access list file says.
    """

    def __init__(
        self, default: Optional[Grants], anonymous: Optional[Grants], users: Mapping[str, Grants]
    ) -> None:
        """
        @param default: the C{[default]} section, if there is one.
        @param anonymous: the C{[anonymous]} section, if there is one.
        @param users: each user's own section, by user name.
        """
        self._default = default
        self._anonymous = anonymous
        self._users = dict(users)

    @classmethod
    def load(cls, path: str) -> "AccessList":
        """
        Read the access list in the file C{path}.

        @raise AccessListError: if the file cannot be read, or is not an
            access list.
        """
        try:
            with open(path, "rb") as f:
                data = f.read()
        except OSError as e:
            raise AccessListError(f"{path}: cannot read it: {e.strerror or e}") from None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as e:
            raise AccessListError(f"{path}: not UTF-8 text (byte {e.start})") from None
        return cls.from_text(text, path)

    @classmethod
    def from_text(cls, text: str, name: str = "<acl>") -> "AccessList":
        """
        Read an access list from the text of its file.

        @param name: what errors call the file.
        @raise AccessListError: if C{text} is not an access list.
        """
        try:
            document = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise AccessListError(f"{name}: not valid TOML: {e}") from None
        try:
            return cls._of_document(document)
        except _Invalid as e:
            raise AccessListError(f"{name}: {e.key}: {e.problem}") from None

    @classmethod
    def _of_document(cls, document: Mapping[str, object]) -> "AccessList":
        for name in document:
            if name not in ("default", "anonymous", "users"):
                raise _Invalid(
                    _key(name), "not a section eventd knows (expected default, anonymous or users)"
                )
        default = anonymous = None
        if "default" in document:
            default = _section(document["default"], "default")
        if "anonymous" in document:
            anonymous = _section(document["anonymous"], "anonymous")
        users = document.get("users", {})
        _expect(users, dict, "users")
        return cls(
            default,
            anonymous,
            {user: _section(table, "users", user) for user, table in users.items()},
        )

    def grants_for(self, user: Optional[str]) -> Grants:
        """
        What C{user} may do: their own section, else C{[default]}; for an
        anonymous connection (C{user} L{None}), C{[anonymous]}, else
        C{[default]}.  With neither, nothing.

        The same user gets the same L{Grants} each time, and with it the
        answers it keeps.
        """
        grants = self._anonymous if user is None else self._users.get(user)
        if grants is None:
            grants = self._default
        return NOTHING if grants is None else grants

    def describe(self) -> str:
        """
        What the access list holds, in a phrase for the server's startup
        log: "2 users, a default and an anonymous section".
        """
        count = len(self._users)
        users = "no users" if not count else f"{count} user" if count == 1 else f"{count} users"
        sections = [
            article
            for article, grants in (("a default", self._default), ("an anonymous", self._anonymous))
            if grants is not None
        ]
        if not sections:
            return f"{users}, no default or anonymous section"
        return f"{users}, {' and '.join(sections)} section"
