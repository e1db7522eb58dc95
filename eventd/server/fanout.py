"""
Publishing: a publish checked as a whole against the server's limits, then
one event per subject handed to the broker.  A client's Publish, each record
of its Emit, and a publish from inside the server's own process all come
through here, so all are checked alike.

A publish may name many subjects, each with many subscribers; so that it
cannot hold the reactor for long, it is handed to the broker one subject at
a time (L{Fanout.steps}), and the caller may let other connections be served
between two subjects.
"""

from typing import Collection, Iterable, Iterator, Sequence

from twisted.internet.defer import Deferred, gatherResults

from eventd.errors import BadArguments, BadSubject, LimitExceeded, MessageTooLarge
from eventd.server.broker import SubscriptionManager
from eventd.server.config import ServerConfig
from eventd.server.interfaces import ISubscriber
from eventd.wire.records import encode_event
from eventd.wire.subjects import check_subject

MAX_CODEC_NAME = 64
"""The longest codec name, in characters."""

RECORD_OVERHEAD = 32
"""What one event's record costs besides its subject and payload, at most
(MessagePack headers, the time)."""


class Fanout:
    """
    Checks publishes against the server's limits and fans them out.
    """

    def __init__(self, broker: SubscriptionManager, config: ServerConfig) -> None:
        self._broker = broker
        self._config = config

    def steps(
        self, now: float, subjects: Sequence[str], codec: str, payload: bytes
    ) -> Iterator[Collection[ISubscriber]]:
        """
        Check a publish as a whole, then publish it: an iterator that hands
        the broker one subject's event per step, all with the time C{now}.
        Either every subject gets its event or, refused, none does.

        @return: an iterator that yields, after each subject, the
            subscribers now over their bound (block mode), whose room the
            publisher should wait for (L{when_room}); empty when none are.
        @raise MessageTooLarge: if the payload is over the limit.
        @raise LimitExceeded: if it names too many subjects, or its events
            would be too many bytes.
        @raise BadSubject: if there is no subject, or one is unusable.
        @raise BadArguments: if the codec name is too long.
        """
        self._check(subjects, codec, payload)
        return self._publish(now, subjects, codec, payload)

    def publish(
        self, now: float, subjects: Sequence[str], codec: str, payload: bytes
    ) -> set[ISubscriber]:
        """
        Check and publish at once: L{steps}, all of them.

        @return: every subscriber now over its bound (block mode).
        """
        full: set[ISubscriber] = set()
        for over in self.steps(now, subjects, codec, payload):
            full.update(over)
        return full

    def _check(self, subjects: Sequence[str], codec: str, payload: bytes) -> None:
        limit = self._config.max_message_bytes
        if len(payload) > limit:
            raise MessageTooLarge(
                f"the message is {len(payload)} bytes; the limit is {limit} bytes"
            )
        if not subjects:
            raise BadSubject("publish needs at least one subject")
        limits = self._config.limits
        if len(subjects) > limits.max_publish_subjects:
            raise LimitExceeded(
                f"a publish may name at most {limits.max_publish_subjects} subjects; "
                f"this one names {len(subjects)} (--max-publish-subjects)"
            )
        for subject in subjects:
            check_subject(subject)
        if len(codec) > MAX_CODEC_NAME:
            raise BadArguments(f"codec name longer than {MAX_CODEC_NAME} characters")
        size = sum(len(subject) for subject in subjects) + len(subjects) * (
            len(payload) + len(codec) + RECORD_OVERHEAD
        )
        if size > limits.max_publish_bytes:
            raise LimitExceeded(
                f"a publish may make at most {limits.max_publish_bytes} bytes of "
                f"events; this one, {len(subjects)} subjects of a "
                f"{len(payload)}-byte message, would make {size} (--max-publish-bytes)"
            )

    def _publish(
        self, now: float, subjects: Sequence[str], codec: str, payload: bytes
    ) -> Iterator[Collection[ISubscriber]]:
        for subject in subjects:
            yield self._broker.publish(subject, encode_event(subject, now, codec, payload)) or ()


def when_room(subscribers: Iterable[ISubscriber]) -> Deferred[None]:
    """
    A Deferred that fires once every one of these subscribers has room
    again: what a block-mode publisher waits for.
    """
    return gatherResults([subscriber.when_room() for subscriber in subscribers]).addCallback(
        lambda _: None
    )
