#!/usr/bin/env python3
"""
A traffic counter: it watches one direction until four cars went that way,
then unsubscribes and watches the next direction; once it has watched all
four it stops listening (abort()) and ends.  The subscriber of the
countingcars example (Pyro 3's countingcars/Client.py).

    python subscriber.py [--seconds S]

It finds the server through the EVENTD_ENDPOINT environment variable, or
tcp:127.0.0.1:7766.  Start publisher.py too, or there is nothing to count.
"""

import argparse
import sys
import threading

from eventd.blocking import Subscriber
from eventd.errors import NamingError

CARS_PER_DIRECTION = 4


class TrafficCounter(Subscriber):
    def __init__(self):
        self.subjPrefix = "CARS.HEADING."
        Subscriber.__init__(self)
        self.patterns = ["north", "south", "east", "west"]  # watched from the end
        self.currentPattern = None
        self.counter = 0
        # event() may run on several threads at once, and it subscribes and
        # unsubscribes: one at a time.
        self.lock = threading.Lock()
        self.subscribeNextPattern()

    def subscribeNextPattern(self):
        if self.currentPattern:
            self.unsubscribe(self.subjPrefix + self.currentPattern)
        if self.patterns:
            self.currentPattern = self.patterns.pop()
            print("Now watching for cars heading", self.currentPattern, flush=True)
            self.subscribe(self.subjPrefix + self.currentPattern)
        else:
            self.currentPattern = None
            print("Watched every direction.", flush=True)
            self.abort()  # makes listen() return

    def event(self, event):
        color, car = event.msg
        direction = event.subject[len(self.subjPrefix):]
        with self.lock:
            if direction.lower() != (self.currentPattern or "").lower():
                # Sent before we unsubscribed from that direction, and
                # arrived after: not our direction any more.
                return
            print("A", color, car, "went", direction, flush=True)
            self.counter += 1
            if self.counter >= CARS_PER_DIRECTION:
                self.counter = 0
                print("Enough cars that way; on to another direction.", flush=True)
                self.subscribeNextPattern()


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, metavar="S",
                        help="give up after S seconds (default: count until done or Ctrl-C)")
    args = parser.parse_args()
    try:
        counter = TrafficCounter()
    except NamingError as e:
        print("No event server found; is it running?", e, flush=True)
        return 1
    if args.seconds is not None:
        timer = threading.Timer(args.seconds, counter.abort)
        timer.daemon = True
        timer.start()
    print("Counting cars.", flush=True)
    try:
        counter.listen()
    except KeyboardInterrupt:
        pass
    print("Stopped counting cars.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
