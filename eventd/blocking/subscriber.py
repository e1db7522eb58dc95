"""
Pyro 3's C{Subscriber}, for plain blocking programs.

Events travel from the reactor thread to the program's threads through a
bounded hand-off: when C{event()} falls behind, the Twisted client stops
reading and the server's queue policy (block or drop) applies, so nothing
piles up here.

Every attribute starts with C{_es_}: Pyro's examples mix this class with
C{threading.Thread}, whose attributes must not be shadowed.
"""

import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Optional

from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.logger import Logger

from eventd.blocking.connection import BlockingConnection
from eventd.client.event_client import Names
from eventd.event import Event

HANDOFF_EVENTS = 64
"""Events handed to a subscriber's listen() loop before it must catch up."""

THREADS = 8
"""How many event() calls a subscriber runs at once with setThreading(1)."""

_log = Logger()


class Subscriber:
    """
    Receives events; Pyro 3's C{Pyro.EventService.Clients.Subscriber}.
    Override L{event}, subscribe, then call L{listen}.

    The arguments are those of L{BlockingConnection}; C{codec} is how
    this client's own messages would be encoded, while events are decoded
    with the codec their publisher used.
    """

    def __init__(
        self,
        ident: Optional[str] = None,
        esURI: Optional[str] = None,
        codec: str = "json",
        *,
        user: Optional[str] = None,
        password: Optional[str] = None,
    ) -> None:
        self._es_connection = BlockingConnection(ident, esURI, codec, user, password)
        self._es_threads = THREADS
        # Handed from the reactor thread to listen(); None wakes it to stop.
        self._es_handoff: "queue.Queue[Optional[Event]]" = queue.Queue()
        self._es_aborted = threading.Event()
        # Reactor-thread state: events handed over and not yet handled, and
        # the Deferred the Twisted client waits on while that is too many.
        self._es_unhandled = 0
        self._es_room: Optional[Deferred] = None

    # Pyro's API.

    def subscribe(self, subjects: Names, policy: Optional[str] = None) -> None:
        """
        Subscribe to one subject or a sequence of subjects (any case).

        @param policy: what the server does when this subscriber falls
            behind: C{"block"}, C{"drop"}, C{"drop-oldest"} or
            C{"disconnect"} (see L{eventd.client.EventClient.subscribe}); an
            event's C{dropped_before} says how many were dropped before it.
        """
        client = self._es_connection.client
        self._es_connection.call(client.subscribe, subjects, self._es_receive, policy)

    def subscribeMatch(self, patterns: Names, policy: Optional[str] = None) -> None:
        """
        Subscribe to every subject one of these regular expressions matches
        (anchored at the start, any case; RE2 syntax).  C{policy} is as for
        L{subscribe}.
        """
        client = self._es_connection.client
        self._es_connection.call(client.subscribe_match, patterns, self._es_receive, policy)

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
