"""
One client as the server sees it: its delivery queue and the responders to
its commands.

The responders translate AMP arguments into calls on the broker and back;
the policy (who gets what, what a full queue does) lives in the broker and
the queue, the byte handling in L{eventd.protocol}.
"""

from typing import Callable, Iterable

from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.interfaces import IReactorTime
from twisted.logger import Logger
from twisted.protocols import amp

from eventd.broker import SubscriptionManager
from eventd.commands import (
    Emit,
    Publish,
    Stats,
    Subscribe,
    SubscribeMatch,
    Unsubscribe,
    encode_event,
)
from eventd.config import ServerConfig
from eventd.errors import BadArguments, BadSubject, EventdError, MessageTooLarge
from eventd.interfaces import IClientConnection, ISubscriber
from eventd.matching import check_subject
from eventd.queues import DeliveryQueue
from eventd.stats import ServerStats

MAX_CODEC_NAME = 64
"""The longest codec name, in characters."""

REFUSAL_REPORT_SECONDS = 10.0
"""The least time between two warnings about one client's refused emits."""


def fan_out(
    broker: SubscriptionManager,
    config: ServerConfig,
    now: float,
    subjects: list[str],
    codec: str,
    payload: bytes,
) -> set[ISubscriber]:
    """
    Publish a payload on each subject, all with the time C{now}, after
    checking the publish as a whole: either every subject gets its event or
    none does.

    @return: the subscribers now over their bound (block mode), whose room
        the publisher should wait for; empty when there are none.
    @raise MessageTooLarge: if the payload is over the limit.
    @raise BadSubject: if there is no subject, or one is unusable.
    @raise BadArguments: if the codec name is too long.
    """
    limit = config.max_message_bytes
    if len(payload) > limit:
        raise MessageTooLarge(
            f"the message is {len(payload)} bytes; the limit is {limit} bytes"
        )
    if not subjects:
        raise BadSubject("publish needs at least one subject")
    for subject in subjects:
        check_subject(subject)
    if len(codec) > MAX_CODEC_NAME:
        raise BadArguments(f"codec name longer than {MAX_CODEC_NAME} characters")
    full: set[ISubscriber] = set()
    for subject in subjects:
        over = broker.publish(subject, encode_event(subject, now, codec, payload))
        if over is not None:
            full.update(over)
    return full


class ClientSession(amp.CommandLocator):
    """
    The responders for one connection's commands.

    @ivar queue: the connection's delivery queue, which is also its
        subscriber identity in the broker.
    """

    log = Logger()

    def __init__(
        self,
        broker: SubscriptionManager,
        config: ServerConfig,
        clock: IReactorTime,
        connection: IClientConnection,
        peer: str,
        *,
        stats: Callable[[], ServerStats],
    ) -> None:
        """
        @param stats: takes a snapshot of the whole server's figures, for
            the Stats command: they are the server's, not this session's.
        """
        self._broker = broker
        self._config = config
        self._clock = clock
        self._connection = connection
        self._stats = stats
        self.queue = DeliveryQueue(
            connection, clock, config.queue_size, config.when_full, peer
        )
        self.refused = 0
        self._refusal_reported_at = float("-inf")

    def close(self) -> None:
        """
        The connection is gone: drop its subscriptions and queued events, and
        release any publisher waiting for room in its queue.
        """
        self._broker.remove(self.queue)
        self.queue.stopProducing()

    def locateResponder(self, name: bytes):
        """
        Find the responder for a command, refusing with L{BadArguments} a box
        whose arguments cannot be decoded, rather than letting AMP drop the
        connection over it.
        """
        responder = super().locateResponder(name)
        if responder is None:
            return None

        def decode_then_respond(box: amp.AmpBox) -> Deferred:
            # AMP decodes the arguments synchronously, before it calls the
            # responder; errors of the responder itself arrive as a failed
            # Deferred and pass through untouched.
            try:
                return responder(box)
            except Exception as e:
                raise amp.RemoteAmpError(
                    b"BAD_ARGUMENTS",
                    f"cannot decode the arguments of {name.decode('ascii', 'replace')}: "
                    f"{type(e).__name__}: {e}",
                ) from e

        return decode_then_respond

    @Publish.responder
    def publish(self, subjects: list[str], codec: str, payload: bytes):
        now = self._clock.seconds()
        full = fan_out(self._broker, self._config, now, subjects, codec, payload)
        answer = {"time": now}
        if not full:
            return answer
        return self._wait_for_room(full, answer)

    @Emit.responder
    def emit(self, publishes: Iterable) -> dict:
        """
        A batch of one-way publishes, all with one server time.  Nobody
        waits for an answer, so a refused publish is logged (at most once
        per L{REFUSAL_REPORT_SECONDS}) and the rest go on.
        """
        now = self._clock.seconds()
        full: set[ISubscriber] = set()
        for record in publishes:
            try:
                subjects, codec, payload = record[:3]
                full |= fan_out(self._broker, self._config, now, subjects, codec, payload)
            except (EventdError, TypeError, ValueError) as refusal:
                self._refused(refusal)
        if full:
            self._wait_for_room(full, {})
        return {}

    def _refused(self, refusal: Exception) -> None:
        self.refused += 1
        now = self._clock.seconds()
        if now - self._refusal_reported_at >= REFUSAL_REPORT_SECONDS:
            self._refusal_reported_at = now
            self.log.warn(
                "refused an emitted publish from {peer} ({refused} in all): {reason}",
                peer=self.queue.peer,
                refused=self.refused,
                reason=refusal,
            )

    def _wait_for_room(self, full: set[ISubscriber], answer: dict) -> Deferred:
        """
        Block mode: answer only when every queue this publish went past has
        room, and read no further commands from this publisher meanwhile, so
        what it sends next stays in its socket, not in our memory.
        """
        self._connection.hold_reading()

        def room(_: object) -> dict:
            # Go on reading only after AMP has sent this answer (it does so
            # once we return), so answers leave in the order publishes came.
            self._clock.callLater(0, self._connection.release_reading)
            return answer

        return gatherResults([queue.when_room() for queue in full]).addCallback(room)

    @Subscribe.responder
    def subscribe(self, subjects: list[str]):
        self._broker.subscribe(self.queue, subjects)
        return {}

    @SubscribeMatch.responder
    def subscribe_match(self, patterns: list[str]):
        self._broker.subscribe_match(self.queue, patterns)
        return {}

    @Unsubscribe.responder
    def unsubscribe(self, subjects: list[str]):
        self._broker.unsubscribe(self.queue, subjects)
        return {}

    @Stats.responder
    def stats(self):
        return {"stats": self._stats().as_dict()}
