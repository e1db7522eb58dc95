"""
eventd for plain, blocking programs: Pyro 3's C{Publisher}, C{Subscriber}
and C{EventServiceStarter}.

    from eventd.blocking import Publisher, Subscriber

    class StockSubscriber(Subscriber):
        def __init__(self):
            Subscriber.__init__(self)
            self.subscribe("StockQuotes")

        def event(self, event):
            print("Got a stockquote:", event.msg)

    StockSubscriber().listen()

Their users need know nothing of Twisted.  Underneath, each object owns an
L{eventd.client.EventClient} running in a reactor thread that crochet starts
once per process (L{eventd.blocking.reactor_thread}); the methods here run
its calls there and wait for the answers.
"""

from eventd.blocking.publisher import Publisher
from eventd.blocking.starter import EventServiceStarter
from eventd.blocking.subscriber import Subscriber
from eventd.errors import CannotConnect, ConnectionDeniedError, LoginFailed, NamingError
from eventd.event import Event

__all__ = [
    "Publisher",
    "Subscriber",
    "EventServiceStarter",
    "Event",
    "CannotConnect",
    "NamingError",
    "LoginFailed",
    "ConnectionDeniedError",
]
