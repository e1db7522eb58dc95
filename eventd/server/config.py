"""
The server's settings, as one value passed from the command line inward.
"""

import enum
from dataclasses import dataclass, field

from eventd.wire.addresses import DEFAULT_HOST, DEFAULT_PORT
from eventd.wire.arguments import NAMES_PER_CALL

DEFAULT_LISTEN = f"tcp:{DEFAULT_PORT}:interface={DEFAULT_HOST}"
DEFAULT_QUEUE_SIZE = 1000
DEFAULT_QUEUE_BYTES = 8 * 1024 * 1024
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
DEFAULT_SEND_BUFFER_BYTES = 128 * 1024
DEFAULT_SHUTDOWN_SECONDS = 5.0
DEFAULT_SLOW_CONSUMER_SECONDS = 10.0
DEFAULT_HEARTBEAT_SECONDS = 30.0
DEFAULT_READ_TIMEOUT_SECONDS = 60.0
DEFAULT_LOGIN_TIMEOUT_SECONDS = 10.0


class WhenFull(enum.Enum):
    """
    What to do with an event for a subscriber whose queue is full.

    The server's option is the default for every subscriber and the limit
    of what one may ask for: only L{BLOCK} makes publishers wait, so a
    subscriber may ask for it only when the server's option is L{BLOCK};
    any server allows the others.
    """

    BLOCK = "block"
    """Queue it anyway, and make its publisher wait for room (Pyro's
    default); a queue full for the slow-consumer timeout is disconnected."""

    DROP = "drop"
    """Drop the new event, for that subscriber only."""

    DROP_OLDEST = "drop-oldest"
    """Drop the oldest queued event to make room: a quote feed wants the
    latest."""

    DISCONNECT = "disconnect"
    """Disconnect the subscriber at once, as a slow consumer."""

    def allows(self, asked: "WhenFull") -> bool:
        """
        Whether a server with this policy lets a subscriber ask for
        C{asked}.
        """
        return asked is not WhenFull.BLOCK or self is WhenFull.BLOCK


@dataclass(frozen=True)
class Limits:
    """
    What one request, one connection, and the whole server may cost.  Each
    is refused past its bound with an error that names it, before anything
    changes.

    @ivar max_publish_subjects: subjects one publish (or Emit record) may
        name.
    @ivar max_publish_bytes: bytes of encoded events one publish may make
        (one event per subject).
    @ivar max_emit_records: publishes one Emit box may carry.
    @ivar max_call_names: subjects or patterns one Subscribe,
        SubscribeMatch or Unsubscribe may name.
    @ivar max_pattern_size: RE2 instructions one compiled pattern may
        take.
    @ivar max_subscriptions: subjects and patterns one connection may hold.
    @ivar max_total_subscriptions: subjects and patterns all connections
        together may hold.
    @ivar max_pattern_instructions: RE2 instructions all distinct patterns
        of the server together may take.
    @ivar max_connections: clients connected at once.
    @ivar max_memory_bytes: bytes of queued events and of unhandled input,
        over all connections; past it the connection holding the most is
        disconnected.
    """

    max_publish_subjects: int = 1000
    max_publish_bytes: int = 64 * 1024 * 1024
    max_emit_records: int = 10_000
    max_call_names: int = NAMES_PER_CALL
    max_pattern_size: int = 2000
    max_subscriptions: int = 10_000
    max_total_subscriptions: int = 1_000_000
    max_pattern_instructions: int = 500_000
    max_connections: int = 10_000
    max_memory_bytes: int = 1024 * 1024 * 1024


@dataclass(frozen=True)
class ServerConfig:
    """
    How the server treats its clients.

    @ivar queue_size: events each subscriber's queue holds (Pyro's
        PYRO_ES_QUEUESIZE).
    @ivar queue_bytes: bytes each subscriber's queue holds; it is full when
        either bound is reached.
    @ivar when_full: what a full queue does (Pyro's PYRO_ES_BLOCKQUEUE), by
        default and at most; see L{WhenFull}.
    @ivar max_message_bytes: the largest payload a publisher may send.
    @ivar send_buffer_bytes: the kernel send buffer (SO_SNDBUF) of each
        connection, or 0 to leave the kernel's autotuning alone.  Kernel
        buffers on loopback otherwise absorb megabytes before a slow
        subscriber's queue starts to fill, and --queue-size would mean
        little.
    @ivar shutdown_seconds: on stop, how long the server goes on delivering
        what is queued before it closes the connections anyway.
    @ivar slow_consumer_seconds: how long a queue may stay full, in block
        mode, before its subscriber is disconnected and its publishers go
        on.
    @ivar heartbeat_seconds: after this long without a byte from a client,
        the server asks it for a heartbeat, and closes the connection if
        nothing arrives for as long again; 0 turns heartbeats off.
    @ivar read_timeout_seconds: how long a box may take to arrive once it
        has begun.
    @ivar login_timeout_seconds: on a server that admits only clients
        that log in, how long a connection may take to.
    @ivar limits: what requests, connections and the server may cost.
    """

    queue_size: int = DEFAULT_QUEUE_SIZE
    queue_bytes: int = DEFAULT_QUEUE_BYTES
    when_full: WhenFull = WhenFull.BLOCK
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    send_buffer_bytes: int = DEFAULT_SEND_BUFFER_BYTES
    shutdown_seconds: float = DEFAULT_SHUTDOWN_SECONDS
    slow_consumer_seconds: float = DEFAULT_SLOW_CONSUMER_SECONDS
    heartbeat_seconds: float = DEFAULT_HEARTBEAT_SECONDS
    read_timeout_seconds: float = DEFAULT_READ_TIMEOUT_SECONDS
    login_timeout_seconds: float = DEFAULT_LOGIN_TIMEOUT_SECONDS
    limits: Limits = field(default_factory=Limits)
