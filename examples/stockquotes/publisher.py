#!/usr/bin/env python3
"""
Two stock markets publishing random quotes, each on the subject
STOCKQUOTE.<symbol>: the publisher of the stockquotes example (Pyro 3's
stockquotes/Server.py).

    twistd -n eventd                          # the server, in another window
    python publisher.py [--count N] [--seconds S] [--pause S]

It finds the server through the EVENTD_ENDPOINT environment variable, or
tcp:127.0.0.1:7766.  Run two or three of them and quotes come faster: the
subscribers neither know nor care how many publishers there are.
"""

import argparse
import random
import sys
import time

from eventd.blocking import Publisher
from eventd.errors import NamingError

# The subscribers import this list too.
symbols = ("SUN", "MICROSOFT", "IBM", "ORACLE", "SAP", "NOVELL")


class StockMarket(Publisher):
    """
    A market trading some of the symbols; each quote is one event.
    """

    def __init__(self, symbols, esURI=None):
        Publisher.__init__(self, esURI=esURI)
        self.symbols = symbols

    def publishQuote(self):
        symbol = random.choice(self.symbols)
        quote = round(50 + random.random() * 100, 2)
        print(symbol, "=", quote, flush=True)
        self.publish("STOCKQUOTE." + symbol, quote)


def options(description=__doc__):
    """
    The command line shared by both stock market programs.
    """
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, metavar="N",
                        help="stop after N quotes (default: run until Ctrl-C)")
    parser.add_argument("--seconds", type=float, metavar="S",
                        help="stop after S seconds (default: run until Ctrl-C)")
    parser.add_argument("--pause", type=float, default=1.0, metavar="S",
                        help="the longest random pause between quotes (default 1)")
    return parser


def trade(markets, count=None, seconds=None, pause=1.0):
    """
    Let a randomly chosen market publish a quote after each random pause,
    until C{count} quotes or C{seconds} seconds (when given).
    """
    deadline = None if seconds is None else time.monotonic() + seconds
    published = 0
    while count is None or published < count:
        time.sleep(random.random() * pause)
        if deadline is not None and time.monotonic() >= deadline:
            break
        random.choice(markets).publishQuote()
        published += 1
    return published


def main():
    args = options().parse_args()
    try:
        market1 = StockMarket(symbols[:3])
        market2 = StockMarket(symbols[3:])
    except NamingError as e:
        print("No event server found; is it running?", e, flush=True)
        return 1
    print("Publishing quotes.", flush=True)
    try:
        trade((market1, market2), args.count, args.seconds, args.pause)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
