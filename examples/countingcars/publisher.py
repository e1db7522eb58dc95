#!/usr/bin/env python3
"""
Traffic: random cars heading north, east, south or west, each published on
CARS.HEADING.<direction> with its colour and make.  The publisher of the
countingcars example (Pyro 3's countingcars/Server.py).

    twistd -n eventd                   # the server, in another window
    python publisher.py [--count N] [--seconds S] [--pause S]

It finds the server through the EVENTD_ENDPOINT environment variable, or
tcp:127.0.0.1:7766.  Run more than one and the cars come faster.
"""

import argparse
import random
import sys
import time

from eventd.blocking import Publisher
from eventd.errors import NamingError


class VehicleProducer(Publisher):
    directions = ("north", "east", "south", "west")
    cars = ("Ford", "Toyota", "Chrysler", "Vauxhall", "Honda", "BMW")
    colors = ("red", "green", "white", "black", "blue", "yellow")

    def nextVehicle(self):
        direction = random.choice(self.directions)
        car = random.choice(self.cars)
        color = random.choice(self.colors)
        print(color, car, "heading", direction, flush=True)
        self.publish("CARS.HEADING." + direction, (color, car))


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, metavar="N",
                        help="stop after N cars (default: run until Ctrl-C)")
    parser.add_argument("--seconds", type=float, metavar="S",
                        help="stop after S seconds (default: run until Ctrl-C)")
    parser.add_argument("--pause", type=float, default=1.0, metavar="S",
                        help="the longest random pause between cars (default 1)")
    args = parser.parse_args()
    deadline = None if args.seconds is None else time.monotonic() + args.seconds
    try:
        producer = VehicleProducer()
    except NamingError as e:
        print("No event server found; is it running?", e, flush=True)
        return 1
    print("Traffic starts.", flush=True)
    cars = 0
    try:
        while args.count is None or cars < args.count:
            time.sleep(random.random() * args.pause)
            if deadline is not None and time.monotonic() >= deadline:
                break
            producer.nextVehicle()
            cars += 1
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
