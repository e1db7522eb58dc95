#!/usr/bin/env python3
"""
Everything in one program, on threads: the event server, three publishers
and a listener.  Pyro 3's AllInOne/allinone_threads.py.

    python allinone_threads.py [--count N] [--seconds S] [--pause S]

The main loop sets random properties on three PropertyChangePublishers; each
publishes the change on <name>.<property>; a PropertyChangeListener,
subscribed to the pattern ^publisher.\\..*$, prints every change it gets.

    thread 1: the event server (EventServiceStarter, on a free port)
    thread 2: the event listener's listen() loop
    main:     the loop that sets the properties

Pyro's version also started a name server, and ran the publishers as Pyro
objects in a daemon thread of their own, called through proxies; eventd
needs no name server and has no remote objects, so the main loop calls the
publishers directly.  And, as Pyro's Readme said: inside one program that is
not distributed, a plain dispatcher object would do.  Use this pattern when
other programs subscribe too.  (Needs no server running: it starts its own.)
"""

import argparse
import random
import string
import sys
import threading
import time

from eventd.blocking import EventServiceStarter, Publisher, Subscriber

START_SECONDS = 10
DRAIN_SECONDS = 10

_printing = threading.Lock()


def say(*words):
    """
    print(), one whole line at a time however many threads print.
    """
    with _printing:
        print(*words, flush=True)


# Event server publisher and listener.

class PropertyChangePublisher(Publisher):
    def __init__(self, name, esURI):
        Publisher.__init__(self, esURI=esURI)
        self.name = name

    def setProperty(self, property, value):
        say(self.name, "sets", property, "to", value)
        self.publish(self.name + "." + property, value)


class PropertyChangeListener(Subscriber):
    def __init__(self, esURI):
        Subscriber.__init__(self, esURI=esURI)
        self.received = 0
        self.changed = threading.Condition()

    def event(self, event):
        say(f"Listener got event: {event.subject}={event.msg}")
        with self.changed:
            self.received += 1
            self.changed.notify_all()

    def waitUntilReceived(self, events, timeout):
        """
        Wait until C{events} events have arrived; False if C{timeout}
        seconds passed first.
        """
        with self.changed:
            return self.changed.wait_for(lambda: self.received >= events, timeout)


# The threads.

class EventServer(threading.Thread):
    def __init__(self):
        threading.Thread.__init__(self, daemon=True)
        self.starter = EventServiceStarter()

    def run(self):
        say("Launching the event server")
        self.starter.start(port=0)  # port 0: the system picks a free port

    def waitUntilStarted(self, timeout):
        return self.starter.waitUntilStarted(timeout)


class EventListener(threading.Thread):
    def __init__(self, esURI):
        threading.Thread.__init__(self, daemon=True)
        self.listener = PropertyChangeListener(esURI)
        self.activated = threading.Event()

    def run(self):
        self.listener.subscribeMatch(r"^publisher.\..*$")
        say("EVENT LISTENER ACTIVATED")
        self.activated.set()
        self.listener.listen()


# The main loop.

def main():
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
    deadline = None if args.seconds is None else time.monotonic() + args.seconds

    server = EventServer()
    server.start()
    if not server.waitUntilStarted(START_SECONDS):
        say("The event server did not start.")
        return 1
    uri = server.starter.uri
    say("EVENT SERVER STARTED AT", uri)

    listener = EventListener(uri)
    listener.start()
    listener.activated.wait(START_SECONDS)

    publishers = [PropertyChangePublisher(f"publisher{n}", uri) for n in (1, 2, 3)]
    say("EVERYTHING IS RUNNING")

    published = 0
    rounds = 0
    try:
        while args.count is None or rounds < args.count:
            if deadline is not None and time.monotonic() >= deadline:
                break
            if rounds:
                time.sleep(args.pause)
            say("MAIN LOOP CHANGES PROPERTIES...")
            for publisher in publishers:
                publisher.setProperty(random.choice(string.ascii_uppercase),
                                      random.randint(0, 1000))
                published += 1
            rounds += 1
    except KeyboardInterrupt:
        pass

    # Let the listener catch up with what was published, then stop it all.
    listener.listener.waitUntilReceived(published, DRAIN_SECONDS)
    listener.listener.abort()
    listener.join(DRAIN_SECONDS)
    listener.listener.close()
    for publisher in publishers:
        publisher.close()
    server.starter.shutdown()
    server.join(DRAIN_SECONDS)
    say("Stopped after", rounds, "rounds;", published, "changes published,",
        listener.listener.received, "received.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
