"""
The responders to one client's commands: AMP arguments in, calls on the
fan-out and the broker, AMP answers out.

The policy (who gets what, what a full queue does, what the limits are)
lives in the broker, the fan-out and the queues, the byte handling in
L{eventd.server.protocol}; here is the translation between the two, and the
pacing of work that may be long: a publish to many subjects, an Emit box of
many records, many patterns to compile.  Such work goes in steps; between
two steps it waits for room (a block-mode publisher) or, once this
connection has had its share of the reactor's turn, for the next turn, so
the other connections are served meanwhile.  While it waits, nothing more is
read from this client, so its requests are still handled in order.
"""

from typing import Any, Callable, Collection, Iterable, Iterator, Optional, Union

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.protocols import amp
from twisted.python.failure import Failure

from eventd.errors import (
    WIRE_CODES,
    AuthRequired,
    BadArguments,
    EventdError,
    LimitExceeded,
    PermissionDenied,
)
from eventd.server.broker import SubscriptionManager
from eventd.server.config import ServerConfig, WhenFull
from eventd.server.counters import Counters
from eventd.server.fanout import Fanout, when_room
from eventd.server.interfaces import IClientConnection
from eventd.server.logbudget import LogBudget
from eventd.server.login import Admission
from eventd.server.permissions import ALLOW_ALL, Grants
from eventd.server.queues import DeliveryQueue
from eventd.server.stats import ServerStats
from eventd.wire.commands import (
    Emit,
    Login,
    LoginFinal,
    command_name,
    Publish,
    Stats,
    Subscribe,
    SubscribeMatch,
    Unsubscribe,
)
from eventd.wire.records import check_emitted
from eventd.wire.subjects import check_subject

REFUSAL_REPORT_SECONDS = 10.0
"""The least time between two warnings about one client's refused requests."""

LOGIN_COMMANDS = (Login.commandName, LoginFinal.commandName)
"""What a connection may send before it is admitted."""

Steps = Iterator[Collection[Any]]
"""Work in steps: each step yields the subscribers it left over their bound
(block mode), to wait for, or nothing."""


class Responders(amp.CommandLocator):
    """
    The responders for one connection's commands.

    @ivar refused: requests of this connection refused with nobody to tell:
        emitted publishes, and requests sent without C{_ask}.
    """

    log = Logger()

    def __init__(
        self,
        broker: SubscriptionManager,
        fanout: Fanout,
        config: ServerConfig,
        clock: IReactorTime,
        connection: IClientConnection,
        queue: DeliveryQueue,
        counters: Counters,
        quiet: LogBudget,
        *,
        stats: Callable[[], ServerStats],
        admission: Admission,
        grants: Callable[[Optional[str]], Grants],
    ) -> None:
        """
        @param queue: the connection's delivery queue, which is its identity
            as a subscriber in the broker.
        @param quiet: the log's budget for lines about clients.
        @param stats: takes a snapshot of the whole server's figures, for
            the Stats command: they are the server's, not this connection's.
        @param admission: whether the connection has logged in; until it
            has, only the login's commands are answered.
        @param grants: what a user (None: an anonymous client) may do,
            asked at each command, so that a new access list applies to
            connections already open.
        """
        self._broker = broker
        self._fanout = fanout
        self._config = config
        self._clock = clock
        self._connection = connection
        self._queue = queue
        self._counters = counters
        self._quiet = quiet
        self._stats = stats
        self._admission = admission
        self._grants = grants
        self.refused = 0
        self._refusal_reported_at = float("-inf")

    def locateResponder(self, name: bytes):
        """
        Find the responder for a command, wrapped so that a refusal never
        costs the client its connection, and every refusal is counted: a
        box whose arguments cannot be decoded is refused with
        L{BadArguments}, and a box that asks for no answer (no C{_ask}) has
        any refusal logged (L{refuse}) instead of answered.
        """
        responder = super().locateResponder(name)
        command = command_name(name)

        def respond(box: amp.AmpBox) -> Deferred:
            if self._admission.principal is None and name not in LOGIN_COMMANDS:
                self._clock.callLater(
                    0,
                    self._connection.goodbye,
                    "LOGIN_REQUIRED",
                    f"a {command} came before the client logged in",
                )
                raise amp.RemoteAmpError(
                    WIRE_CODES[AuthRequired],
                    "this server admits only clients that log in (with a passphrase, a "
                    f"user name and password, or a client certificate) before a {command}",
                )
            if responder is None:
                raise amp.RemoteAmpError(amp.UNHANDLED_ERROR_CODE, f"no such command: {command}")
            # AMP decodes the arguments synchronously, before it calls the
            # responder; errors of the responder itself arrive as a failed
            # Deferred.
            try:
                return responder(box)
            except Exception as e:
                # A limit the decoding met is that limit's refusal; anything
                # else means the arguments are not what the command takes.
                code = WIRE_CODES.get(type(e), WIRE_CODES[BadArguments])
                raise amp.RemoteAmpError(
                    code, _shortened(f"cannot decode the arguments of {command}: {e}")
                ) from e

        def respond_and_count(box: amp.AmpBox) -> Deferred:
            try:
                answer = respond(box)
            except amp.RemoteAmpError as refusal:
                answer = fail(refusal)
            if amp.ASK in box:
                return answer.addErrback(self._count_answered)
            return answer.addErrback(self._refuse_unasked)

        return respond_and_count

    def refuse(self, refusal: Exception) -> None:
        """
        Count and log a request refused with nobody to tell, at most one
        line per L{REFUSAL_REPORT_SECONDS}: a client that keeps getting
        something wrong is worth one line now and then, not a flood.
        """
        code = _code_of(refusal).decode("ascii", "replace")
        self._counters.refused[code] += 1
        self.refused += 1
        now = self._clock.seconds()
        if now - self._refusal_reported_at < REFUSAL_REPORT_SECONDS:
            return
        also = self._quiet.allow()
        if also is not None:
            self._refusal_reported_at = now
            self.log.warn(
                "refused a request of {peer} ({refused} in all): {code} {reason}{also}",
                peer=self._queue.peer,
                refused=self.refused,
                code=code,
                reason=_shortened(str(getattr(refusal, "description", refusal))),
                also=also,
            )

    def _count_answered(self, failure: Failure) -> Failure:
        """
        Count a refusal the client is about to be told of, its description
        short enough to be told.
        """
        if failure.check(amp.RemoteAmpError):
            refusal = failure.value
            self._counters.refused[_code_of(refusal).decode("ascii", "replace")] += 1
            description = refusal.description
            if isinstance(description, str) and len(description) > DESCRIPTION_CHARACTERS:
                return Failure(amp.RemoteAmpError(refusal.errorCode, _shortened(description)))
        return failure

    def _refuse_unasked(self, failure: Failure) -> dict:
        """
        A request without C{_ask} was refused: nobody waits for the answer.
        An error of the server's own (not a refusal) goes on to AMP, which
        logs it and closes the connection.
        """
        failure.trap(EventdError, amp.RemoteAmpError)
        self.refuse(failure.value)
        return {}

    # Commands.

    @Login.responder
    def login(self, mechanism: str, message: str) -> dict:
        return self._admission.begin(mechanism, message)

    @LoginFinal.responder
    def login_final(self, message: str) -> Deferred:
        return self._admission.end(message)

    @Publish.responder
    def publish(self, subjects: list[str], codec: str, payload: bytes):
        self._check_allowed("publish on", subjects, Grants.may_publish)
        now = self._clock.seconds()
        answer = {"time": now}
        return self._run(self._fanout.steps(now, subjects, codec, payload), lambda: answer)

    @Emit.responder
    def emit(self, publishes: list[object]) -> Union[dict, Deferred]:
        """
        A batch of one-way publishes, all with one server time.  Nobody
        waits for an answer, so a refused publish is counted and logged
        (L{refuse}) and the rest go on.
        """
        limit = self._config.limits.max_emit_records
        if len(publishes) > limit:
            raise LimitExceeded(
                f"an emit may carry at most {limit} publishes; this one carries "
                f"{len(publishes)} (--max-emit-records)"
            )
        return self._run(self._emitting(publishes, self._clock.seconds()), dict)

    def _emitting(self, records: Iterable[object], now: float) -> Steps:
        for record in records:
            try:
                subjects, codec, payload = check_emitted(record)
                self._check_allowed("publish on", subjects, Grants.may_publish)
                steps = self._fanout.steps(now, subjects, codec, payload)
            except EventdError as refusal:
                self.refuse(refusal)
                yield ()
                continue
            yield from steps

    @Subscribe.responder
    def subscribe(self, subjects: list[str], policy: Optional[str] = None):
        asked = self._policy(policy)
        self._check_allowed("subscribe to", subjects, Grants.may_subscribe)
        self._broker.subscribe(self._queue, subjects)
        self._set_policy(asked)
        return {}

    @SubscribeMatch.responder
    def subscribe_match(self, patterns: list[str], policy: Optional[str] = None):
        asked = self._policy(policy)
        limit = self._config.limits.max_call_names
        if len(patterns) > limit:  # before any compiling, not only after it
            raise LimitExceeded(
                f"one call may name at most {limit} subjects or patterns; this one "
                f"names {len(patterns)} (--max-call-names)"
            )
        sizes: dict[str, int] = {}

        def compiling() -> Steps:
            # Compiling is the costly part: one pattern a step.
            for pattern in dict.fromkeys(patterns):
                size = self._broker.compile(pattern)
                if size is not None:
                    sizes[pattern] = size
                yield ()

        def subscribed() -> dict:
            # The compiling took turns: the connection may have gone since,
            # and the broker must not hold patterns for nobody.
            if not self._queue.stopped:
                self._broker.subscribe_match(self._queue, patterns, sizes)
                self._set_policy(asked)
            return {}

        return self._run(compiling(), subscribed)

    @Unsubscribe.responder
    def unsubscribe(self, subjects: list[str]):
        self._broker.unsubscribe(self._queue, subjects)
        return {}

    @Stats.responder
    def stats(self):
        if not self._grants(self._user).may_read_stats:
            raise PermissionDenied(
                f"{self._who} may not read the server's figures (the access list's "
                "stats = true allows it)"
            )
        return {"stats": self._stats().as_dict()}

    # Permissions.  A pattern subscription is taken whatever it matches:
    # the broker asks the access list about each subject it would deliver.

    @property
    def _user(self) -> Optional[str]:
        principal = self._admission.principal
        return None if principal is None else principal.user

    @property
    def _who(self) -> str:
        user = self._user
        return "an anonymous client" if user is None else f"user {user!r}"

    def _check_allowed(
        self, action: str, subjects: Iterable[str], allows: Callable[[Grants, str], bool]
    ) -> None:
        """
        @raise BadSubject: if a subject is unusable: checked first, so that
            the access list's answers are kept only for subjects of a
            bounded size.
        @raise PermissionDenied: naming the first subject the access list
            does not let this connection's user C{action}.
        """
        grants = self._grants(self._user)
        if grants is ALLOW_ALL:  # no access list: nothing to ask, nor to keep
            return
        for subject in subjects:
            check_subject(subject)
            if not allows(grants, subject):
                raise PermissionDenied(f"{self._who} may not {action} {subject!r}")

    # Policies.

    def _policy(self, name: Optional[str]) -> Optional[WhenFull]:
        """
        The policy a subscriber asks for, checked against the server's.

        @raise BadArguments: if there is no such policy, or the server does
            not allow it.
        """
        if name is None:
            return None
        try:
            asked = WhenFull(name)
        except ValueError:
            choices = ", ".join(policy.value for policy in WhenFull)
            raise BadArguments(f"no such policy {name!r}; the policies are {choices}")
        server = self._config.when_full
        if not server.allows(asked):
            raise BadArguments(
                f"policy {name!r} is not allowed: the server's --when-full is "
                f"{server.value!r}, and only a server that blocks lets a subscriber block"
            )
        return asked

    def _set_policy(self, asked: Optional[WhenFull]) -> None:
        if asked is not None:
            self._queue.set_policy(asked)

    # Pacing.

    def _run(self, steps: Steps, done: Callable[[], Any]) -> Any:
        """
        Do C{steps}, then return C{done()}; or a Deferred of it, if the
        steps had to wait: for room in full queues (block mode), or for the
        reactor's next turn once this connection has had its share of this
        one.
        """
        for full in steps:
            if full:
                waited = when_room(full)
            elif self._connection.share_used():
                waited = deferLater(self._clock, 0, lambda: None)
            else:
                continue
            return self._held_until(waited).addCallback(lambda _: self._resume(steps, done))
        return done()

    def _resume(self, steps: Steps, done: Callable[[], Any]) -> Any:
        self._connection.begin_share()
        return self._run(steps, done)

    def _held_until(self, waited: Deferred) -> Deferred:
        """
        Read no further commands from this client until C{waited} fires, so
        what it sends meanwhile stays in its socket, not in our memory, and
        its requests are handled in order.
        """
        self._connection.hold_reading()

        def go_on(result: object) -> object:
            # Go on reading only after AMP has sent the answer (it does so
            # once the responder's Deferred fires), so answers leave in the
            # order requests came.
            self._clock.callLater(0, self._connection.release_reading)
            return result

        return waited.addBoth(go_on)


DESCRIPTION_CHARACTERS = 1000
"""The longest error description the server sends: it quotes what clients
sent, which may be long, and one AMP value holds 65,535 bytes."""


def _shortened(text: str) -> str:
    if len(text) <= DESCRIPTION_CHARACTERS:
        return text
    return text[:DESCRIPTION_CHARACTERS] + "..."


def _code_of(refusal: Exception) -> bytes:
    """
    The wire code of a refusal, as an answer would have carried it.
    """
    if isinstance(refusal, amp.RemoteAmpError):
        return refusal.errorCode
    return WIRE_CODES.get(type(refusal), amp.UNKNOWN_ERROR_CODE)
