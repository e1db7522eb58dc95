#!/usr/bin/env python3
"""
Everything in one program on one event loop, without threads: the event
server, three publishers and a listener, all in this program's own Twisted
reactor.  Pyro 3's AllInOne/allinone_ownloop.py, which select()ed over the
sockets of its servers in a loop of its own; here the reactor is that loop.

    python allinone_ownloop.py [--count N] [--seconds S] [--pause S]

The server is an eventd.server.EventService added to the reactor; the
publishers and the listener are Twisted clients (eventd.client.connect)
talking to it over loopback, as programs elsewhere would.  The main loop
sets random properties on three PropertyChangePublishers; each publishes
the change on <name>.<property>; the PropertyChangeListener, subscribed to
the pattern ^publisher.\\..*$, prints every change it gets.  (Needs no server
running: it starts its own.)
"""

import argparse
import random
import string
import sys

from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.logger import (
    FilteringLogObserver,
    LogLevel,
    LogLevelFilterPredicate,
    globalLogBeginner,
    textFileLogObserver,
)

from eventd.client import connect
from eventd.server import EventService
from eventd.server.config import ServerConfig

DRAIN_SECONDS = 10


class PropertyChangePublisher:
    def __init__(self, name, client):
        self.name = name
        self.client = client

    def setProperty(self, property, value):
        print(self.name, "sets", property, "to", value, flush=True)
        return self.client.publish(self.name + "." + property, value)


class PropertyChangeListener:
    def __init__(self):
        self.received = 0
        self._waiting = []  # (events, Deferred) pairs

    def event(self, event):
        print(f"Listener got event: {event.subject}={event.msg}", flush=True)
        self.received += 1
        still = []
        for events, waiter in self._waiting:
            if self.received >= events:
                waiter.callback(None)
            else:
                still.append((events, waiter))
        self._waiting = still

    def whenReceived(self, events):
        """
        A Deferred that fires once C{events} events have arrived.
        """
        if self.received >= events:
            return defer.succeed(None)
        waiter = defer.Deferred()
        self._waiting.append((events, waiter))
        return waiter


async def main(reactor, args):
    deadline = None if args.seconds is None else reactor.seconds() + args.seconds

    print("STARTING THE EVENT SERVER", flush=True)
    # Port 0: the system picks a free port.
    endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
    server = EventService([endpoint], ServerConfig(), reactor)
    server.startService()
    uri = (await server.whenListening())[0]
    print("EVENT SERVER STARTED AT", uri, flush=True)

    print("CREATING THE PUBLISHERS", flush=True)
    publishers = [
        PropertyChangePublisher(f"publisher{n}", await connect(uri, reactor))
        for n in (1, 2, 3)
    ]

    listener = PropertyChangeListener()
    listenerClient = await connect(uri, reactor)
    await listenerClient.subscribe_match(r"^publisher.\..*$", listener.event)
    print("EVENT LISTENER ACTIVATED", flush=True)
    print("EVERYTHING IS RUNNING", flush=True)

    clients = [listenerClient] + [publisher.client for publisher in publishers]
    stopping = []

    async def stopEverything():
        for client in clients:
            await client.close()
        await server.stopService()

    def stopOnce():
        # On Ctrl-C the reactor stops before main() is done: stop in order
        # (clients first, so that none of them mourns a lost connection).
        if stopping:
            return None
        stopping.append(True)
        return defer.ensureDeferred(stopEverything())

    reactor.addSystemEventTrigger("before", "shutdown", stopOnce)

    published = 0
    rounds = 0
    while args.count is None or rounds < args.count:
        if deadline is not None and reactor.seconds() >= deadline:
            break
        if rounds:
            await task.deferLater(reactor, args.pause, lambda: None)
        print("MAIN LOOP CHANGES PROPERTIES...", flush=True)
        for publisher in publishers:
            await publisher.setProperty(random.choice(string.ascii_uppercase),
                                        random.randint(0, 1000))
            published += 1
        rounds += 1

    # Let the listener catch up with what was published, then stop it all.
    try:
        await listener.whenReceived(published).addTimeout(DRAIN_SECONDS, reactor)
    except defer.TimeoutError:
        print("The listener missed some changes.", flush=True)
    await stopOnce()
    print("Stopped after", rounds, "rounds;", published, "changes published,",
          listener.received, "received.", flush=True)


def run():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, metavar="N",
                        help="stop after N rounds of changes (default: run until Ctrl-C)")
    parser.add_argument("--seconds", type=float, metavar="S",
                        help="stop after S seconds (default: run until Ctrl-C)")
    parser.add_argument("--pause", type=float, default=1.0, metavar="S",
                        help="the pause between rounds (default 1)")
    args = parser.parse_args()
    # Show Twisted's warnings and errors (the server's and the clients'),
    # not its chatter about every connection.
    globalLogBeginner.beginLoggingTo(
        [FilteringLogObserver(textFileLogObserver(sys.stderr),
                              [LogLevelFilterPredicate(LogLevel.warn)])],
        redirectStandardIO=False,
    )
    task.react(lambda reactor: defer.ensureDeferred(main(reactor, args)))


if __name__ == "__main__":
    run()
