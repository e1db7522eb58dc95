"""
Blocking clients for plain scripts: Pyro 3's C{Publisher} and C{Subscriber}.

    from eventd.clients import Publisher, Subscriber

    class StockSubscriber(Subscriber):
        def __init__(self):
            Subscriber.__init__(self)
            self.subscribe("StockQuotes")

        def event(self, event):
            print("Got a stockquote:", event.msg)

    StockSubscriber().listen()

Their users need know nothing of Twisted.  Underneath, each object owns an
L{eventd.client.EventClient} running in a reactor thread that crochet starts
once per process; the methods here run its calls there and wait for the
answers.  Events travel the other way through a bounded hand-off: when
C{event()} falls behind, the Twisted client stops reading and the server's
queue policy (block or drop) applies, so nothing piles up here.

Every attribute of these classes starts with C{_es_}: Pyro's examples mix
them with C{threading.Thread}, whose attributes must not be shadowed.
"""

import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Optional

import crochet
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from eventd.blocking import wait_for
from eventd.client import EventClient, connect, server_address
from eventd.client.session import Names
from eventd.errors import CannotConnect
from eventd.event import Event

CONNECT_SECONDS = 5.0
"""How long a client tries to reach the server before giving up."""

HANDOFF_EVENTS = 64
"""Events handed to a subscriber's listen() loop before it must catch up."""

THREADS = 8
"""How many event() calls a subscriber runs at once with setThreading(1)."""

_log = Logger()


class _Connection:
    """
    One Twisted client, in the reactor thread, used from this one.
    """

    def __init__(self, ident: Optional[str], esURI: Optional[str], codec: str) -> None:
        if ident is not None:
            _log.warn("eventd has no authentication yet: the ident passphrase is ignored")
        self.address = server_address(esURI)
        try:
            self.client: EventClient = wait_for(
                connect, self.address, None, codec, timeout=CONNECT_SECONDS
            )
        except crochet.TimeoutError:
            raise CannotConnect(
                f"no event server answered at {self.address} "
                f"within {CONNECT_SECONDS:g} seconds"
            ) from None
        except Exception as e:
            raise CannotConnect(
                f"cannot reach the event server at {self.address}: {e}"
            ) from e
        # crochet stops the reactor when the program exits: close quietly
        # then, rather than have the client mourn a lost connection.
        reactor.callFromThread(
            reactor.addSystemEventTrigger, "before", "shutdown", self.client.close
        )

    def call(self, method: Callable[..., Deferred], *args: Any) -> Any:
        """
        Call a method of the client in the reactor thread and wait for the
        server's answer.
        """
        return wait_for(method, *args)

    def close(self) -> None:
        wait_for(self.client.close, timeout=CONNECT_SECONDS)


class Publisher:
    """
    Publishes events; Pyro 3's C{Pyro.EventService.Clients.Publisher}.

    @param ident: Pyro's authentication passphrase; accepted so ported code
        runs, but eventd has no authentication yet.
    @param esURI: the server's address: its banner's C{URI=} value or any
        Twisted client endpoint string.  By default the EVENTD_ENDPOINT
        environment variable, else C{tcp:127.0.0.1:7766}.
    @param codec: how messages are encoded: C{json} or C{raw}.
    @raise CannotConnect: (also known as C{NamingError}) if no server answers
        within L{CONNECT_SECONDS}.
    """

    def __init__(
        self, ident: Optional[str] = None, esURI: Optional[str] = None, codec: str = "json"
    ) -> None:
        self._es_connection = _Connection(ident, esURI, codec)

    def publish(self, subjects: Names, msg: Any) -> float:
        """
        Publish C{msg} on one subject or a sequence of subjects.  Returns the
        server's timestamp of the events once every subscriber's queue took
        them (in block mode that waits for room, as Pyro's did).

        @raise TypeError: if the codec cannot encode C{msg}.
        """
        return self._es_connection.call(self._es_connection.client.publish, subjects, msg)

    def close(self) -> None:
        """
        Disconnect.
        """
        self._es_connection.close()


class Subscriber:
    """
    Receives events; Pyro 3's C{Pyro.EventService.Clients.Subscriber}.
    Override L{event}, subscribe, then call L{listen}.

    @param ident: Pyro's authentication passphrase; accepted so ported code
        runs, but eventd has no authentication yet.
    @param esURI: the server's address, as for L{Publisher}.
    @param codec: how this client's own messages would be encoded; events
        are decoded with the codec their publisher used.
    @raise CannotConnect: (also known as C{NamingError}) if no server answers
        within L{CONNECT_SECONDS}.
    """

    def __init__(
        self, ident: Optional[str] = None, esURI: Optional[str] = None, codec: str = "json"
    ) -> None:
        self._es_connection = _Connection(ident, esURI, codec)
        self._es_threads = THREADS
        # Handed from the reactor thread to listen(); None wakes it to stop.
        self._es_handoff: "queue.Queue[Optional[Event]]" = queue.Queue()
        self._es_aborted = threading.Event()
        # Reactor-thread state: events handed over and not yet handled, and
        # the Deferred the Twisted client waits on while that is too many.
        self._es_unhandled = 0
        self._es_room: Optional[Deferred] = None

    # Pyro's API.

    def subscribe(self, subjects: Names) -> None:
        """
        Subscribe to one subject or a sequence of subjects (any case).
        """
        client = self._es_connection.client
        self._es_connection.call(client.subscribe, subjects, self._es_receive)

    def subscribeMatch(self, patterns: Names) -> None:
        """
        Subscribe to every subject one of these regular expressions matches
        (anchored at the start, any case; RE2 syntax).
        """
        client = self._es_connection.client
        self._es_connection.call(client.subscribe_match, patterns, self._es_receive)

    def unsubscribe(self, subjects: Names) -> None:
        """
        Unsubscribe from subjects or patterns.
        """
        client = self._es_connection.client
        self._es_connection.call(client.unsubscribe, subjects)

    def setThreading(self, threading: int) -> None:
        """
        1 (the default): event() may run on several threads at once.
        0: event() runs on the listen() thread, one event at a time, in
        arrival order.  Call it before listen().
        """
        self._es_threads = THREADS if threading else 0

    def listen(self) -> None:
        """
        Handle events, calling event() for each, until abort() is called
        (from event(), typically).  Events that arrived since subscribing
        are handled first.
        """
        self._es_aborted.clear()
        if self._es_threads:
            self._es_listen_threaded()
        else:
            self._es_listen_serially()

    def abort(self) -> None:
        """
        Make listen() return, once the event() calls already running have
        finished (with setThreading(1) that may be several; events not yet
        handed to event() wait for the next listen()).  Safe to call from
        event() or any thread.
        """
        self._es_aborted.set()
        self._es_handoff.put(None)

    def event(self, event: Event) -> None:
        """
        Called for each event; override it.  C{event} has C{subject}, C{msg}
        and C{time}.
        """
        print(f"{event.subject}: {event.msg!r}")

    def close(self) -> None:
        """
        Disconnect.
        """
        self._es_connection.close()

    # PEP 8 names.

    subscribe_match = subscribeMatch
    set_threading = setThreading

    # The reactor thread's side of the hand-off.

    def _es_receive(self, event: Event) -> Optional[Deferred]:
        """
        The Twisted client's handler: hand the event over, and make the
        client wait while listen() has too many unhandled.
        """
        self._es_handoff.put(event)
        self._es_unhandled += 1
        if self._es_unhandled < HANDOFF_EVENTS:
            return None
        self._es_room = Deferred()
        return self._es_room

    def _es_handled(self) -> None:
        self._es_unhandled -= 1
        room, self._es_room = self._es_room, None
        if room is not None:
            room.callback(None)

    # The listen() thread's side.

    def _es_next(self) -> Optional[Event]:
        """
        The next event, or None once aborted.
        """
        while not self._es_aborted.is_set():
            event = self._es_handoff.get()
            if event is not None:
                return event
        return None

    def _es_handle(self, event: Event) -> None:
        try:
            self.event(event)
        except Exception:
            _log.failure("event() failed on an event on {subject}", subject=event.subject)
        finally:
            reactor.callFromThread(self._es_handled)

    def _es_listen_serially(self) -> None:
        while (event := self._es_next()) is not None:
            self._es_handle(event)

    def _es_listen_threaded(self) -> None:
        running = threading.BoundedSemaphore(self._es_threads)

        def handle(event: Event) -> None:
            try:
                self._es_handle(event)
            finally:
                running.release()

        with ThreadPoolExecutor(self._es_threads, "eventd-event") as workers:
            while (event := self._es_next()) is not None:
                running.acquire()
                workers.submit(handle, event)
