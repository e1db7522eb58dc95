"""
The server's settings, as one value passed from the command line inward.
"""

import enum
from dataclasses import dataclass

from eventd.wire.addresses import DEFAULT_HOST, DEFAULT_PORT

DEFAULT_LISTEN = f"tcp:{DEFAULT_PORT}:interface={DEFAULT_HOST}"
DEFAULT_QUEUE_SIZE = 1000
DEFAULT_MAX_MESSAGE_BYTES = 1024 * 1024
DEFAULT_SEND_BUFFER_BYTES = 128 * 1024
DEFAULT_SHUTDOWN_SECONDS = 5.0


class WhenFull(enum.Enum):
    """
    What to do with an event for a subscriber whose queue is full.
    """

    BLOCK = "block"
    DROP = "drop"


@dataclass(frozen=True)
class ServerConfig:
    """
    How the server treats its clients.

    @ivar queue_size: events each subscriber's queue holds (Pyro's
        PYRO_ES_QUEUESIZE).
    @ivar when_full: what a full queue does (Pyro's PYRO_ES_BLOCKQUEUE).
    @ivar max_message_bytes: the largest payload a publisher may send.
    @ivar send_buffer_bytes: the kernel send buffer (SO_SNDBUF) of each
        connection, or 0 to leave the kernel's autotuning alone.  Kernel
        buffers on loopback otherwise absorb megabytes before a slow
        subscriber's queue starts to fill, and --queue-size would mean
        little.
    @ivar shutdown_seconds: on stop, how long the server goes on delivering
        what is queued before it closes the connections anyway.
    """

    queue_size: int = DEFAULT_QUEUE_SIZE
    when_full: WhenFull = WhenFull.BLOCK
    max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES
    send_buffer_bytes: int = DEFAULT_SEND_BUFFER_BYTES
    shutdown_seconds: float = DEFAULT_SHUTDOWN_SECONDS
