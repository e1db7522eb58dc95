"""
Publishing: a publish checked as a whole, then one event per subject handed
to the broker.  A client's Publish, each record of its Emit, and a publish
from inside the server's own process all come through here, so all are
checked alike.
"""

from typing import Iterable, Sequence

from twisted.internet.defer import Deferred, gatherResults

from eventd.errors import BadArguments, BadSubject, MessageTooLarge
from eventd.server.broker import SubscriptionManager
from eventd.server.config import ServerConfig
from eventd.server.interfaces import ISubscriber
from eventd.wire.records import encode_event
from eventd.wire.subjects import check_subject

MAX_CODEC_NAME = 64
"""The longest codec name, in characters."""


class Fanout:
    """
    Checks publishes against the server's limits and fans them out.
    """

    def __init__(self, broker: SubscriptionManager, config: ServerConfig) -> None:
        self._broker = broker
        self._config = config

    def publish(
        self, now: float, subjects: Sequence[str], codec: str, payload: bytes
    ) -> set[ISubscriber]:
        """
        Publish a payload on each subject, all with the time C{now}, after
        checking the publish as a whole: either every subject gets its event
        or none does.

        @return: the subscribers now over their bound (block mode), whose
            room the publisher should wait for (L{when_room}); empty when
            there are none.
        @raise MessageTooLarge: if the payload is over the limit.
        @raise BadSubject: if there is no subject, or one is unusable.
        @raise BadArguments: if the codec name is too long.
        """
        limit = self._config.max_message_bytes
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
            over = self._broker.publish(subject, encode_event(subject, now, codec, payload))
            if over is not None:
                full.update(over)
        return full


def when_room(subscribers: Iterable[ISubscriber]) -> Deferred[None]:
    """
    A Deferred that fires once every one of these subscribers has room
    again: what a block-mode publisher waits for.
    """
    return gatherResults([subscriber.when_room() for subscriber in subscribers]).addCallback(
        lambda _: None
    )
