"""
The responders to one client's commands: AMP arguments in, calls on the
fan-out and the broker, AMP answers out.

The policy (who gets what, what a full queue does) lives in the broker and
the queues, the byte handling in L{eventd.server.protocol}; here is only the
translation between the two, and the waiting of a block-mode publisher.
"""

from typing import Callable, Iterator, Union

from twisted.internet.defer import Deferred, fail
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.protocols import amp
from twisted.python.failure import Failure

from eventd.errors import WIRE_CODES, BadArguments, EventdError
from eventd.server.broker import SubscriptionManager
from eventd.server.fanout import Fanout, when_room
from eventd.server.interfaces import IClientConnection, ISubscriber
from eventd.server.stats import ServerStats
from eventd.wire.commands import (
    Emit,
    Publish,
    Stats,
    Subscribe,
    SubscribeMatch,
    Unsubscribe,
)
from eventd.wire.records import check_emitted

REFUSAL_REPORT_SECONDS = 10.0
"""The least time between two warnings about one client's refused requests."""


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
        clock: IReactorTime,
        connection: IClientConnection,
        subscriber: ISubscriber,
        *,
        stats: Callable[[], ServerStats],
    ) -> None:
        """
        @param subscriber: the connection's identity in the broker (its
            delivery queue).
        @param stats: takes a snapshot of the whole server's figures, for
            the Stats command: they are the server's, not this connection's.
        """
        self._broker = broker
        self._fanout = fanout
        self._clock = clock
        self._connection = connection
        self._subscriber = subscriber
        self._stats = stats
        self.refused = 0
        self._refusal_reported_at = float("-inf")

    def locateResponder(self, name: bytes):
        """
        Find the responder for a command, wrapped so that a refusal never
        costs the client its connection: a box whose arguments cannot be
        decoded is refused with L{BadArguments}, and a box that asks for no
        answer (no C{_ask}) has any refusal counted and logged (L{refuse})
        instead of answered.
        """
        responder = super().locateResponder(name)
        command = name.decode("ascii", "replace")

        def respond(box: amp.AmpBox) -> Deferred:
            if responder is None:
                raise amp.RemoteAmpError(
                    amp.UNHANDLED_ERROR_CODE, f"no such command: {command!r}"
                )
            # AMP decodes the arguments synchronously, before it calls the
            # responder; errors of the responder itself arrive as a failed
            # Deferred.
            try:
                return responder(box)
            except Exception as e:
                raise amp.RemoteAmpError(
                    WIRE_CODES[BadArguments],
                    f"cannot decode the arguments of {command}: {e}",
                ) from e

        def respond_or_refuse(box: amp.AmpBox) -> Deferred:
            try:
                answer = respond(box)
            except amp.RemoteAmpError as refusal:
                answer = fail(refusal)
            return answer.addErrback(self._refuse_unasked)

        return lambda box: respond(box) if amp.ASK in box else respond_or_refuse(box)

    def _refuse_unasked(self, failure: Failure) -> dict:
        """
        A request without C{_ask} was refused: nobody waits for the answer.
        An error of the server's own (not a refusal) goes on to AMP, which
        logs it and closes the connection.
        """
        failure.trap(EventdError, amp.RemoteAmpError)
        self.refuse(failure.value)
        return {}

    def refuse(self, refusal: Exception) -> None:
        """
        Count a request refused with nobody to tell, and log it, at most
        once per L{REFUSAL_REPORT_SECONDS}: a client that keeps getting
        something wrong is worth one line now and then, not a flood.
        """
        self.refused += 1
        now = self._clock.seconds()
        if now - self._refusal_reported_at >= REFUSAL_REPORT_SECONDS:
            self._refusal_reported_at = now
            self.log.warn(
                "refused a request of {peer} ({refused} in all): {code} {reason}",
                peer=self._subscriber.peer,
                refused=self.refused,
                code=_code_of(refusal).decode("ascii", "replace"),
                reason=getattr(refusal, "description", refusal),
            )

    @Publish.responder
    def publish(self, subjects: list[str], codec: str, payload: bytes):
        now = self._clock.seconds()
        full = self._fanout.publish(now, subjects, codec, payload)
        answer = {"time": now}
        if not full:
            return answer
        return self._wait_for_room(full).addCallback(lambda _: answer)

    @Emit.responder
    def emit(self, publishes: list[object]) -> Union[dict, Deferred]:
        """
        A batch of one-way publishes, all with one server time.  Nobody
        waits for an answer, so a refused publish is counted and logged
        (L{refuse}) and the rest go on.
        """
        return self._emit(iter(publishes), self._clock.seconds())

    def _emit(self, records: Iterator[object], now: float) -> Union[dict, Deferred]:
        for record in records:
            try:
                full = self._fanout.publish(now, *check_emitted(record))
            except EventdError as refusal:
                self.refuse(refusal)
                continue
            if full:
                # Block mode: the rest of the box waits for room too, so one
                # box cannot push all its records past a full queue.
                waited = self._wait_for_room(full)
                return waited.addCallback(lambda _: self._emit(records, now))
        return {}

    def _wait_for_room(self, full: set[ISubscriber]) -> Deferred[None]:
        """
        Block mode: fire once every queue this publish went past has room,
        and read no further commands from this publisher meanwhile, so what
        it sends next stays in its socket, not in our memory.
        """
        self._connection.hold_reading()

        def room(result: None) -> None:
            # Go on reading only after AMP has sent the answer (it does so
            # once we return), so answers leave in the order requests came.
            self._clock.callLater(0, self._connection.release_reading)
            return result

        return when_room(full).addCallback(room)

    @Subscribe.responder
    def subscribe(self, subjects: list[str]):
        self._broker.subscribe(self._subscriber, subjects)
        return {}

    @SubscribeMatch.responder
    def subscribe_match(self, patterns: list[str]):
        self._broker.subscribe_match(self._subscriber, patterns)
        return {}

    @Unsubscribe.responder
    def unsubscribe(self, subjects: list[str]):
        self._broker.unsubscribe(self._subscriber, subjects)
        return {}

    @Stats.responder
    def stats(self):
        return {"stats": self._stats().as_dict()}


def _code_of(refusal: Exception) -> bytes:
    """
    The wire code of a refusal, as an answer would have carried it.
    """
    if isinstance(refusal, amp.RemoteAmpError):
        return refusal.errorCode
    return WIRE_CODES.get(type(refusal), amp.UNKNOWN_ERROR_CODE)
