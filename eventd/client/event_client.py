"""
L{EventClient}: a Twisted application's handle on an eventd server.

It survives the server: when the connection is lost it reconnects with
backoff and subscribes again to everything it had (Pyro 3's clients waited
forever instead).  Calls made while it is disconnected wait for the next
connection.
"""

from functools import partial
from inspect import iscoroutine
from typing import Any, Callable, Iterable, Optional, Union

from twisted.application.internet import ClientService, backoffPolicy
from twisted.internet.defer import Deferred, DeferredList, fail, gatherResults
from twisted.internet.error import ConnectionClosed
from twisted.internet.interfaces import IReactorTime, IStreamClientEndpoint
from twisted.internet.protocol import Factory
from twisted.internet.task import deferLater
from twisted.logger import Logger
from twisted.protocols import amp
from twisted.python.failure import Failure

from eventd.client.connection import ClientProtocol
from eventd.client.handlers import HandlerTable
from eventd.client.login import Credentials, log_in
from eventd.codecs import Codec, codec_named
from eventd.errors import LoginFailed
from eventd.event import Event
from eventd.wire.arguments import name_batches
from eventd.wire.commands import Publish, Stats, Subscribe, SubscribeMatch, Unsubscribe
from eventd.wire.records import WireEvent, encode_emitted

Handler = Callable[[Event], Any]
"""
Called with each event; may return a Deferred (or be a coroutine function),
and later events of the connection then wait until it fires.
"""

Names = Union[str, Iterable[str]]

EMIT_FLUSH_BYTES = 64 * 1024
"""Emitted publishes pending past this many bytes go out at once."""

EMIT_PENDING_BYTES = 1024 * 1024
"""Emitted publishes that may wait for a connection before emit() asks the
caller to wait too."""


def _names(names: Names) -> list[str]:
    return [names] if isinstance(names, str) else list(names)


def _all_answered(calls: Iterable[Deferred]) -> Deferred:
    """
    Fire with None once every call is answered, or fail with the first
    error.
    """
    answered = gatherResults(list(calls), consumeErrors=True)
    return answered.addCallbacks(lambda _: None, lambda failure: failure.value.subFailure)


class EventClient:
    """
    A connection to an eventd server that publishes and subscribes.

    Use L{eventd.client.connect} to make one.
    """

    log = Logger()

    def __init__(
        self,
        endpoint: IStreamClientEndpoint,
        clock: IReactorTime,
        codec: Codec,
        credentials: Optional[Credentials] = None,
    ) -> None:
        """
        @param credentials: who to log in as, on every connection, before
            anything else.
        """
        self.codec = codec
        self._credentials = credentials
        self._refused: Optional[Failure] = None
        self._reconnecting = False
        self._clock = clock
        self._handlers = HandlerTable()
        self._policy: Optional[str] = None
        self._protocol: Optional[ClientProtocol] = None
        self._waiting: list[Deferred] = []
        self._disconnect_waiters: list[Deferred] = []
        self._emitted: list[bytes] = []
        self._emitted_bytes = 0
        self._emit_flush = None
        self._closed = False
        self._service = ClientService(
            endpoint,
            self._factory(),
            retryPolicy=backoffPolicy(initialDelay=0.1, maxDelay=5.0),
            clock=clock,
            prepareConnection=self._prepare,
        )

    def _factory(self) -> Factory:
        factory = Factory.forProtocol(partial(ClientProtocol, self._dispatch, self._lost))
        factory.noisy = False
        return factory

    def start(self) -> Deferred:
        """
        Connect; fire with this client once connected, or fail with the
        reason if the first attempt fails.
        """
        self._service.startService()
        connected = self._service.whenConnected(failAfterFailures=1)
        # ClientService fires that from inside its state machine, which must
        # not be re-entered (by close(), say): go on in a later reactor turn.
        return connected.addBoth(
            lambda result: deferLater(self._clock, 0, self._started, result)
        )

    def _started(self, result: object) -> object:
        if isinstance(result, Failure):
            return self._not_started(result)
        if self._refused is not None:
            return self._not_started(self._refused)
        # Over TLS the connection is made before the handshake has verified
        # the server: a server refused is a failed start too.
        return result.when_ready().addCallbacks(lambda _: self, self._not_started)

    def _not_started(self, reason: Failure) -> Deferred:
        self._closed = True
        return self._service.stopService().addCallback(lambda _: reason)

    # The API.

    def publish(self, subjects: Names, msg: Any) -> Deferred:
        """
        Publish C{msg} on each subject.  Fires with the server's timestamp of
        the events once every subscriber's queue took them.

        @raise TypeError: at once, if the codec cannot encode C{msg}.
        """
        payload = self.codec.encode(msg)
        answer = self._call(
            Publish, subjects=_names(subjects), codec=self.codec.name, payload=payload
        )
        return answer.addCallback(lambda response: response["time"])

    def emit(self, subjects: Names, msg: Any) -> Optional[Deferred]:
        """
        Publish C{msg} on each subject without waiting for the server: the
        fast way to publish many events.  Publishes made in one turn of the
        reactor go out together, in one box, at the end of it; the server
        answers nothing, and logs (rather than reports) one it refuses.
        A publish emitted while the connection is lost may be lost with it.

        @return: None when the caller may go on emitting, or a Deferred that
            fires once it should: the server is not taking what was sent (its
            queues are full, in block mode), or there is no connection and
            L{EMIT_PENDING_BYTES} wait already.  A loop that waits for it
            has a bounded window, like a NATS client's pending buffer.
        @raise TypeError: at once, if the codec cannot encode C{msg}.
        """
        record = encode_emitted(_names(subjects), self.codec.name, self.codec.encode(msg))
        self._emitted.append(record)
        self._emitted_bytes += len(record)
        protocol = self._protocol
        if protocol is None:
            if self._emitted_bytes < EMIT_PENDING_BYTES:
                return None
            connected: Deferred = Deferred()
            self._waiting.append(connected)
            return connected.addCallback(lambda _: None)
        if self._emitted_bytes >= EMIT_FLUSH_BYTES:
            self._flush_emitted()
        elif self._emit_flush is None:
            self._emit_flush = self._clock.callLater(0, self._flush_emitted)
        return protocol.sending.when_open()

    def _flush_emitted(self) -> None:
        if self._emit_flush is not None and self._emit_flush.active():
            self._emit_flush.cancel()
        self._emit_flush = None
        if self._protocol is not None and self._emitted:
            self._protocol.send_emitted(self._emitted)
            self._emitted = []
            self._emitted_bytes = 0

    def subscribe(
        self, subjects: Names, handler: Handler, policy: Optional[str] = None
    ) -> Deferred:
        """
        Call C{handler} with every event on these subjects (any case).

        @param policy: what the server should do when this connection's
            queue is full: C{"block"} (its publishers wait), C{"drop"} (new
            events are dropped), C{"drop-oldest"} (the oldest are), or
            C{"disconnect"}; the server's --when-full by default, and it
            may refuse C{"block"}.  It holds for the whole connection, and
            again after a reconnection.  A handler learns of dropped events
            from C{event.dropped_before}.
        """
        subjects = _names(subjects)
        done = self._call_in_batches(Subscribe, "subjects", subjects, policy)
        return done.addCallback(
            lambda _: self._subscribed(policy, self._handlers.add_subjects, handler, subjects)
        )

    def subscribe_match(
        self, patterns: Names, handler: Handler, policy: Optional[str] = None
    ) -> Deferred:
        """
        Call C{handler} with every event on a subject one of these regular
        expressions matches (anchored at the start, any case).  C{policy}
        is as for L{subscribe}.
        """
        patterns = _names(patterns)
        done = self._call_in_batches(SubscribeMatch, "patterns", patterns, policy)
        return done.addCallback(
            lambda _: self._subscribed(policy, self._handlers.add_patterns, handler, patterns)
        )

    def _subscribed(
        self, policy: Optional[str], add: Callable[[Handler, list[str]], None], *args: Any
    ) -> None:
        if policy is not None:
            self._policy = policy
        add(*args)

    def unsubscribe(self, subjects_or_patterns: Names) -> Deferred:
        """
        Stop receiving events on these subjects and patterns, whichever
        handlers they were for.
        """
        names = _names(subjects_or_patterns)
        self._handlers.remove(names)
        return self._call_in_batches(Unsubscribe, "subjects", names)

    def stats(self) -> "Deferred[dict[str, Any]]":
        """
        The server's figures: a dict with the keys C{uptime},
        C{connections}, C{subscriptions}, C{patterns}, C{published},
        C{delivered}, C{dropped} and C{subscribers} (a list of dicts, one
        per subscribing connection); docs/protocol.md says what each means.
        """
        return self._call(Stats).addCallback(lambda response: response["stats"])

    def when_disconnected(self) -> Deferred:
        """
        A Deferred that fires (with None) the next time the connection is
        lost.  The client reconnects by itself; this is for applications
        that want to know, or say so.
        """
        lost: Deferred = Deferred()
        self._disconnect_waiters.append(lost)
        return lost

    def close(self) -> Deferred:
        """
        Disconnect for good, once what was emitted is sent.  Calls still
        waiting for a connection fail.
        """
        self._closed = True
        self._flush_emitted()
        self._emitted, self._emitted_bytes = [], 0
        waiting, self._waiting = self._waiting, []
        for call in waiting:
            call.errback(ConnectionClosed("the client was closed"))
        if self._protocol is not None:
            self._protocol.stop_sending()
        return self._service.stopService()

    # The connection.

    def _call(self, command: type[amp.Command], **arguments) -> Deferred:
        if self._protocol is not None:
            # What was emitted before goes out before, so the server sees
            # this connection's publishes in the order they were made.
            self._flush_emitted()
            return self._protocol.call(command, **arguments)
        if self._closed:
            return fail(ConnectionClosed("the client was closed"))
        connected: Deferred = Deferred()
        self._waiting.append(connected)
        return connected.addCallback(lambda protocol: protocol.call(command, **arguments))

    def _call_in_batches(
        self,
        command: type[amp.Command],
        argument: str,
        names: list[str],
        policy: Optional[str] = None,
    ) -> Deferred:
        """
        Send C{command} with the C{names} as C{argument}, in as many commands
        as one AMP value (and the server's default limit of names per call)
        needs; fires with None once all are answered.
        """
        extra = {} if policy is None else {"policy": policy}
        return _all_answered(
            self._call(command, **{argument: batch}, **extra) for batch in name_batches(names)
        )

    def _prepare(self, protocol: ClientProtocol) -> Deferred:
        """
        A new connection: log in, if we have credentials, then subscribe it
        to everything we had, with the policy we asked for, then let
        waiting calls through.
        """
        if self._credentials is None:
            return self._resubscribe(protocol)
        logged_in = Deferred.fromCoroutine(log_in(protocol, self._credentials))
        return logged_in.addCallbacks(
            lambda _: self._resubscribe(protocol), self._login_refused, errbackArgs=(protocol,)
        )

    def _login_refused(self, failure: Failure, protocol: ClientProtocol) -> None:
        """
        The server refused the login: close this connection, and let
        ClientService try again later, as after any lost connection.
        (Failing the preparation instead would leave the connection open
        under a ClientService that believes it gone.)  A first
        connection's refusal is start()'s failure.
        """
        failure.trap(LoginFailed)
        self._refused = failure
        if self._reconnecting and not self._closed:
            self.log.warn(
                "the event server refused the login as {user}: {reason}",
                user=self._credentials.user,
                reason=failure.getErrorMessage(),
            )
        protocol.transport.loseConnection()

    def _resubscribe(self, protocol: ClientProtocol) -> Deferred:
        extra = {} if self._policy is None else {"policy": self._policy}
        calls = [
            protocol.call(Subscribe, subjects=batch, **extra)
            for batch in name_batches(self._handlers.subjects)
        ] + [
            protocol.call(SubscribeMatch, patterns=batch, **extra)
            for batch in name_batches(self._handlers.patterns)
        ]
        return _all_answered(calls).addCallback(lambda _: self._connected(protocol))

    def _connected(self, protocol: ClientProtocol) -> None:
        self._protocol = protocol
        self._reconnecting = True
        self._flush_emitted()
        waiting, self._waiting = self._waiting, []
        for call in waiting:
            call.callback(protocol)

    def _lost(self, protocol: ClientProtocol) -> None:
        # ClientService holds one connection at a time, and hands
        # _resubscribe a proxy of it, not the protocol itself: no identity
        # to compare, and none needed.
        if self._protocol is None:
            return
        self._protocol = None
        if not self._closed:
            self.log.warn("lost the connection to the event server; reconnecting")
        # We are inside ClientService's handling of the loss; tell waiters
        # in a later turn, so they may use the client (or close it) at once.
        waiters, self._disconnect_waiters = self._disconnect_waiters, []
        for waiter in waiters:
            self._clock.callLater(0, waiter.callback, None)

    # Events.

    def _dispatch(self, wire: WireEvent) -> Optional[Deferred]:
        """
        Run every distinct handler whose subscription matches, once each.
        Handler errors are logged, never raised: one bad handler must not
        cost the others their events or the connection.
        """
        handlers = self._handlers.handlers_for(wire.subject)
        if not handlers:
            return None
        try:
            event = Event(
                wire.subject,
                codec_named(wire.codec).decode(wire.payload),
                wire.time,
                wire.dropped_before,
            )
        except Exception:
            self.log.failure(
                "cannot decode an event on {subject} (codec {codec}); skipped it",
                subject=wire.subject,
                codec=wire.codec,
            )
            return None
        busy = []
        for handler in handlers:
            try:
                result = handler(event)
                if result is None:  # the usual case: nothing more to look at
                    continue
                if iscoroutine(result):
                    result = Deferred.fromCoroutine(result)
            except Exception:
                self._handler_failed(Failure(), handler, event)
                continue
            if isinstance(result, Deferred):
                busy.append(result.addErrback(self._handler_failed, handler, event))
        if not busy:
            return None
        return busy[0] if len(busy) == 1 else DeferredList(busy)

    def _handler_failed(self, failure: Failure, handler: Handler, event: Event) -> None:
        self.log.failure(
            "handler {handler!r} failed on an event on {subject}",
            failure,
            handler=handler,
            subject=event.subject,
        )
