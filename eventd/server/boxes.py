"""
Reading AMP boxes from a client with bounded memory.

AMP's own parser collects a box of any size before looking at it: a client
could make the server hold gigabytes by never ending a box.  L{BoxReader}
parses the same framing (docs/protocol.md, section 2), but once the box
being read grows past its limit it keeps only the keys that route it
(C{_command} and C{_ask}) and skips every other value as it arrives, without
storing it; the box is then reported as L{OversizedBox}, to be refused.

It is a parser without I/O: bytes are fed in, whole boxes come out, so the
connection decides when to read the next one (not while its reading is
held), and tests feed it bytes directly.
"""

from typing import NamedTuple, Optional, Union

from twisted.protocols import amp

MAX_KEY_BYTES = 255
"""The longest key AMP allows."""

KEY_COST_BYTES = 64
"""
What each key costs toward a box's limit besides its own bytes: a box of a
million one-byte keys would cost Python a hundred times its bytes, and must
not slip under the limit.
"""

_ROUTING_KEYS = frozenset((amp.COMMAND, amp.ASK))


class FramingError(Exception):
    """
    The bytes are not AMP: the connection cannot be read any further.
    """


class OversizedBox(NamedTuple):
    """
    A box that grew past the limit, of which only the routing keys were
    kept.

    @ivar command: its C{_command}, if it had one.
    @ivar ask: its C{_ask}, if it had one: the tag of the answer it wants.
    """

    command: Optional[bytes]
    ask: Optional[bytes]


class BoxReader:
    """
    An incremental parser of AMP boxes, holding at most about C{box_limit}
    bytes of any one box.
    """

    def __init__(self, box_limit: int) -> None:
        """
        @param box_limit: the most bytes of keys and values a box may hold
            (their length prefixes not counted), each key counting
            L{KEY_COST_BYTES} more.
        """
        self._limit = box_limit
        self._buffer = bytearray()
        self._box = amp.AmpBox()
        self._box_bytes = 0
        self._stored_bytes = 0
        self._key: Optional[bytes] = None
        self._skipping = 0

    @property
    def held_bytes(self) -> int:
        """
        The bytes held now: input not parsed yet, and the keys and values
        kept of the box being read.
        """
        return len(self._buffer) + self._stored_bytes

    def discard(self) -> None:
        """
        Forget all input held: the connection will read no more.
        """
        self._buffer.clear()
        self._box = amp.AmpBox()
        self._box_bytes = self._stored_bytes = self._skipping = 0
        self._key = None

    def feed(self, data: bytes) -> None:
        """
        Take bytes received from the client.
        """
        self._buffer += data

    def next_box(self) -> Union[amp.AmpBox, OversizedBox, None]:
        """
        The next whole box, or None until more bytes are fed.

        @raise FramingError: if a key is longer than AMP allows.
        """
        buffer = self._buffer
        while True:
            if self._skipping:
                skipped = min(self._skipping, len(buffer))
                del buffer[:skipped]
                self._skipping -= skipped
                if self._skipping:
                    return None
            if len(buffer) < 2:
                return None
            length = (buffer[0] << 8) | buffer[1]
            if self._key is None:
                if length == 0:
                    del buffer[:2]
                    return self._end_box()
                if length > MAX_KEY_BYTES:
                    raise FramingError(
                        f"a key of {length} bytes; AMP keys are at most {MAX_KEY_BYTES}"
                    )
                if len(buffer) < 2 + length:
                    return None
                self._key = bytes(buffer[2 : 2 + length])
                self._box_bytes += length + KEY_COST_BYTES
                del buffer[: 2 + length]
            elif self._box_bytes + length > self._limit and self._key not in _ROUTING_KEYS:
                # Over the limit: skip the value as it arrives, keep nothing.
                self._box_bytes += length
                self._skipping = length
                self._key = None
                del buffer[:2]
            else:
                if len(buffer) < 2 + length:
                    return None
                self._box[self._key] = bytes(buffer[2 : 2 + length])
                self._box_bytes += length
                self._stored_bytes += len(self._key) + length
                self._key = None
                del buffer[: 2 + length]

    def _end_box(self) -> Union[amp.AmpBox, OversizedBox]:
        box, self._box = self._box, amp.AmpBox()
        oversized = self._box_bytes > self._limit
        self._box_bytes = self._stored_bytes = 0
        if oversized:
            return OversizedBox(box.get(amp.COMMAND), box.get(amp.ASK))
        return box
