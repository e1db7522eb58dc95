#!/usr/bin/env python3
"""
Stress test, publishing side: ten threads, each with its own publisher,
publish cars as fast as they can (a random pause of up to 0.1 s) on
STRESSTEST.CARS.HEADING.<direction>.  Pyro 3's stresstest/producer.py; run
consumer.py alongside and watch the server's CPU and memory: both should
stay flat.

    python producer.py [--count N] [--seconds S] [--pause S]

--count is per thread.  It finds the server through EVENTD_ENDPOINT, or
tcp:127.0.0.1:7766.
"""

import argparse
import random
import sys
import threading

from eventd.blocking import Publisher
from eventd.errors import NamingError

PRODUCERS = 10

mustStop = threading.Event()
_printing = threading.Lock()


def say(*words):
    """
    print(), one whole line at a time however many threads print.
    """
    with _printing:
        print(*words, flush=True)


class VehicleProducer(Publisher, threading.Thread):
    directions = ("north", "east", "south", "west")
    cars = ("Ford", "Toyota", "Chrysler", "Vauxhall", "Honda", "BMW")
    colors = ("red", "green", "white", "black", "blue", "yellow")

    def __init__(self, id, count=None, pause=0.1):
        Publisher.__init__(self)
        threading.Thread.__init__(self)
        self.id = id
        self.count = count
        self.pause = pause

    def nextVehicle(self):
        direction = random.choice(self.directions)
        car = random.choice(self.cars)
        color = random.choice(self.colors)
        self.publish("STRESSTEST.CARS.HEADING." + direction, (color, car))
        say(self.id, "published", color, car, "heading", direction)

    def run(self):
        say(self.id, "Producer running.")
        published = 0
        while self.count is None or published < self.count:
            if mustStop.wait(random.random() * self.pause):
                break
            self.nextVehicle()
            published += 1
        say(self.id, "Producer stopped.")


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, metavar="N",
                        help="each thread stops after N cars (default: run until Ctrl-C)")
    parser.add_argument("--seconds", type=float, metavar="S",
                        help="stop after S seconds (default: run until Ctrl-C)")
    parser.add_argument("--pause", type=float, default=0.1, metavar="S",
                        help="the longest random pause between a thread's cars (default 0.1)")
    args = parser.parse_args()
    try:
        threads = [VehicleProducer(id, args.count, args.pause) for id in range(PRODUCERS)]
    except NamingError as e:
        print("No event server found; is it running?", e, flush=True)
        return 1
    for producer in threads:
        producer.start()
    if args.seconds is not None:
        timer = threading.Timer(args.seconds, mustStop.set)
        timer.daemon = True
        timer.start()
    try:
        for producer in threads:
            while producer.is_alive():
                producer.join(0.5)  # a timeout, so that Ctrl-C gets through
    except KeyboardInterrupt:
        say("Interrupted; waiting for the producers to stop.")
        mustStop.set()
        for producer in threads:
            producer.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())
