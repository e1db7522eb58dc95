"""
The client's side of one connection to a server.

Answers to the client's commands are handled as they arrive.  Events are
queued and handed to the application one at a time, in order; when a handler
returns a Deferred, the next event waits for it.  While more than
L{INBOX_HIGH} events wait, the client stops reading its socket, so TCP
carries the pressure back to the server, whose queue policy then applies
(block or drop) instead of the client's memory growing.

One exception keeps that from deadlocking: while a command of ours awaits its
answer, we keep reading, because the answer may sit behind unread events (a
handler that subscribes or publishes and waits for the answer would
otherwise wait forever).
"""

from collections import deque
from typing import Callable, Optional

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IHandshakeListener, IPushProducer
from twisted.logger import Logger, LogLevel
from twisted.protocols import amp
from twisted.protocols.tls import TLSMemoryBIOProtocol
from zope.interface import implementer

from eventd.wire.commands import Deliver, Goodbye, Heartbeat, emit_box
from eventd.wire.records import WireEvent

INBOX_HIGH = 256
"""Events waiting for the application before the client stops reading."""

INBOX_LOW = INBOX_HIGH // 2
"""Events waiting for the application below which it reads again."""

TOLD_ALREADY = ("LOGIN_REQUIRED", "LOGIN_FAILED")
"""Goodbyes that follow a refusal the caller was answered with."""


@implementer(IPushProducer)
class _SendWindow:
    """
    Whether the server takes what we send: the streaming producer registered
    on our transport, which pauses it when its write buffer is full.
    """

    def __init__(self) -> None:
        self.paused = False
        self._waiting: list[Deferred] = []

    def when_open(self) -> Optional[Deferred]:
        """
        None if sending may go on now, else a Deferred that fires once it may
        (or once the connection is gone).
        """
        if not self.paused:
            return None
        waiter: Deferred = Deferred()
        self._waiting.append(waiter)
        return waiter

    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        waiting, self._waiting = self._waiting, []
        for waiter in waiting:
            waiter.callback(None)

    def stopProducing(self) -> None:
        self.resumeProducing()


@implementer(IHandshakeListener)
class ClientProtocol(amp.AMP):
    """
    An AMP connection to an eventd server.

    @ivar goodbye: the code and reason the server gave when it closed the
        connection, if it did.

    @param dispatch: called with each event in turn; may return a Deferred,
        and the next event waits until it fires.  It must not raise.
    @param lost: called with this protocol when the connection is lost.
    """

    log = Logger()

    def __init__(
        self,
        dispatch: Callable[[WireEvent], Optional[Deferred]],
        lost: Callable[["ClientProtocol"], None],
    ) -> None:
        super().__init__()
        self._dispatch = dispatch
        self._lost = lost
        self._inbox: deque[WireEvent] = deque()
        self._pumping = False
        self._waiting = False
        self._calls = 0
        self._reading_paused = False
        self.sending = _SendWindow()
        self.goodbye: Optional[tuple[str, str]] = None
        self._secured = False
        self._securing: list[Deferred] = []

    def connectionMade(self) -> None:
        super().connectionMade()
        self.transport.registerProducer(self.sending, True)

    def when_ready(self) -> Deferred:
        """
        A Deferred that fires once the connection may carry commands: at
        once over TCP; over TLS once the handshake has verified the server,
        or failing with the reason the connection was lost before (a
        certificate refused, say).  Twisted makes a TLS connection before
        its handshake.
        """
        if self._secured or not isinstance(self.transport, TLSMemoryBIOProtocol):
            return succeed(None)
        securing: Deferred = Deferred()
        self._securing.append(securing)
        return securing

    def handshakeCompleted(self) -> None:
        self._secured = True
        securing, self._securing = self._securing, []
        for waiter in securing:
            waiter.callback(None)

    def stop_sending(self) -> None:
        """
        Nothing more will be sent: let go of the transport's producer.  A
        TLS transport closes only once its producer is gone (a TCP one
        does not wait).
        """
        if self.transport is not None:
            self.transport.unregisterProducer()
            self.sending.stopProducing()

    def send_emitted(self, records: list[bytes]) -> None:
        """
        Send pre-encoded one-way publishes (see L{Emit}) in one box.
        """
        self.transport.write(emit_box(records))

    def call(self, command: type[amp.Command], **arguments) -> Deferred:
        """
        Send a command and return the Deferred of its answer, reading on
        until the answer arrives.
        """
        self._calls += 1
        self._update_reading()

        def answered(result: object) -> object:
            self._calls -= 1
            self._update_reading()
            return result

        return self.callRemote(command, **arguments).addBoth(answered)

    @Deliver.responder
    def deliver(self, events: list[WireEvent], dropped: Optional[dict[int, int]] = None) -> dict:
        if dropped:
            events = [
                event._replace(dropped_before=dropped[index]) if index in dropped else event
                for index, event in enumerate(events)
            ]
        self._inbox.extend(events)
        self._pump()
        return {}

    @Heartbeat.responder
    def heartbeat(self) -> dict:
        """
        The server asks whether we are still here: answering says so.
        """
        return {}

    @Goodbye.responder
    def goodbye_received(self, code: str, reason: str) -> dict:
        """
        The server is about to close the connection, and says why.
        """
        self.goodbye = (code, reason)
        # After a refused login the caller has the refusal already.
        level = LogLevel.info if code in TOLD_ALREADY else LogLevel.warn
        self.log.emit(
            level, "the event server closes the connection: {code}: {reason}",
            code=code, reason=reason,
        )
        return {}

    def connectionLost(self, reason) -> None:
        # Events already received are still handed to the application, in
        # order: the server delivered them before it went away.
        super().connectionLost(reason)
        securing, self._securing = self._securing, []
        for waiter in securing:
            waiter.errback(reason)
        self._lost(self)

    def _pump(self) -> None:
        """
        Hand waiting events to the application until one of them makes us
        wait.  A handler's Deferred that has already fired does not recurse
        into here: the loop simply goes on.
        """
        if self._pumping:
            return
        self._pumping = True
        try:
            while self._inbox and not self._waiting:
                busy = self._dispatch(self._inbox.popleft())
                if busy is not None:
                    self._waiting = True
                    busy.addBoth(self._handled)
        finally:
            self._pumping = False
        self._update_reading()

    def _handled(self, result: object) -> None:
        self._waiting = False
        self._pump()

    def _update_reading(self) -> None:
        if self.transport is None:
            return
        waiting = len(self._inbox)
        if self._reading_paused:
            if self._calls or waiting <= INBOX_LOW:
                self._reading_paused = False
                self.transport.resumeProducing()
        elif waiting >= INBOX_HIGH and not self._calls:
            self._reading_paused = True
            self.transport.pauseProducing()
