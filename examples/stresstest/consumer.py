#!/usr/bin/env python3
"""
Stress test, subscribing side: twenty threads, each with its own subscriber,
count the cars of producer.py.  Each watches one direction until four cars
went that way, then unsubscribes and watches the next; after all four it
starts over.  Pyro 3's stresstest/consumer.py.

    python consumer.py [--count N] [--seconds S]

--count is per thread: each stops after counting N cars.  It finds the
server through EVENTD_ENDPOINT, or tcp:127.0.0.1:7766.
"""

import argparse
import sys
import threading
import time

from eventd.blocking import Subscriber
from eventd.errors import NamingError

CONSUMERS = 20
CARS_PER_DIRECTION = 4

_printing = threading.Lock()


def say(*words):
    """
    print(), one whole line at a time however many threads print.
    """
    with _printing:
        print(*words, flush=True)


class TrafficCounter(Subscriber, threading.Thread):
    def __init__(self, id, count=None):
        self.subjPrefix = "STRESSTEST.CARS.HEADING."
        Subscriber.__init__(self)
        threading.Thread.__init__(self)
        self.patterns = ["north", "east", "south", "west"]
        self.currentPattern = None
        self.counter = 0
        self.counted = 0
        self.count = count
        self.id = id
        # event() runs on several threads at once, and subscribes and
        # unsubscribes: one at a time.
        self.lock = threading.Lock()
        self.subscribeNextPattern()

    def subscribeNextPattern(self):
        if self.currentPattern:
            self.unsubscribe(self.subjPrefix + self.currentPattern)
        if not self.patterns:
            say(self.id, "Watched every direction; starting over.")
            self.patterns = ["north", "east", "south", "west"]
        self.currentPattern = self.patterns.pop()
        say(self.id, "Now watching for cars heading", self.currentPattern)
        self.subscribe(self.subjPrefix + self.currentPattern)

    def event(self, event):
        color, car = event.msg
        direction = event.subject[len(self.subjPrefix):]
        with self.lock:
            if self.count is not None and self.counted >= self.count:
                return  # done; listen() is about to return
            if direction.lower() != self.currentPattern.lower():
                return  # sent before we unsubscribed from it, arrived after
            say(self.id, "A", color, car, "went", direction)
            self.counted += 1
            self.counter += 1
            if self.counter >= CARS_PER_DIRECTION:
                self.counter = 0
                say(self.id, "Enough cars that way; on to another direction.")
                self.subscribeNextPattern()
            if self.counted == self.count:
                self.abort()

    def run(self):
        say(self.id, "Counting cars.")
        self.listen()
        say(self.id, "Stopped counting cars.")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, metavar="N",
                        help="each thread stops after N cars (default: run until Ctrl-C)")
    parser.add_argument("--seconds", type=float, metavar="S",
                        help="stop after S seconds (default: run until Ctrl-C)")
    args = parser.parse_args()
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    threads = []
    try:
        for id in range(CONSUMERS):
            counter = TrafficCounter(id, args.count)
            counter.start()
            threads.append(counter)
        for counter in threads:
            while counter.is_alive():
                if deadline is not None and time.monotonic() >= deadline:
                    raise TimeoutError
                counter.join(0.5)  # a timeout, so that Ctrl-C gets through
    except NamingError as e:
        print("No event server found; is it running?", e, flush=True)
    except (KeyboardInterrupt, TimeoutError):
        say("Stopping; waiting for the counters to stop.")
    for counter in threads:
        counter.abort()
    for counter in threads:
        counter.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
