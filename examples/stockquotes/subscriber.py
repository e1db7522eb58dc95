#!/usr/bin/env python3
"""
Listens to the quotes of the stock symbols you choose and prints each one:
the subscriber of the stockquotes example (Pyro 3's stockquotes/Client.py).

    python subscriber.py                      # asks which symbols
    python subscriber.py SUN,IBM [--count N] [--seconds S]

It finds the server through the EVENTD_ENDPOINT environment variable, or
tcp:127.0.0.1:7766.  Run several, listening to different (or the same)
symbols.
"""

import argparse
import sys
import threading

from publisher import symbols

from eventd.blocking import Subscriber
from eventd.errors import NamingError


class QuotePrinter(Subscriber):
    """
    Prints every quote it gets; stops listening after C{limit} of them.
    """

    def __init__(self, esURI=None, limit=None):
        Subscriber.__init__(self, esURI=esURI)
        self.limit = limit
        self.received = 0
        # event() may run on several threads at once.
        self.lock = threading.Lock()

    def event(self, event):
        with self.lock:
            if self.limit is not None and self.received >= self.limit:
                return  # had enough already; listen() is about to return
            self.received += 1
            print(event.subject, "=", event.msg, flush=True)
            if self.received == self.limit:
                self.abort()


class StockSubscriber(QuotePrinter):
    def __init__(self, symbols, esURI=None, limit=None):
        QuotePrinter.__init__(self, esURI, limit)
        self.subscribe(["STOCKQUOTE." + symbol for symbol in symbols])


def options(description=__doc__):
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, metavar="N",
                        help="stop after N quotes (default: listen until Ctrl-C)")
    parser.add_argument("--seconds", type=float, metavar="S",
                        help="stop after S seconds (default: listen until Ctrl-C)")
    return parser


def choose_symbols(given):
    """
    The symbols given on the command line, or else asked for.
    """
    if given is None:
        print("Stock symbols to choose from:")
        print("   ", "  ".join(symbols))
        try:
            given = input("Which ones (comma separated; nothing for all)? ")
        except EOFError:  # nothing to read: take them all
            print()
            given = ""
    chosen = [symbol.strip().upper() for symbol in given.split(",") if symbol.strip()]
    return chosen or list(symbols)


def listen(listener, seconds=None):
    """
    Listen until the listener aborts, Ctrl-C, or C{seconds} (when given).
    """
    if seconds is not None:
        timer = threading.Timer(seconds, listener.abort)
        timer.daemon = True
        timer.start()
    try:
        listener.listen()
    except KeyboardInterrupt:
        pass


def main():
    parser = options()
    parser.add_argument("symbols", nargs="?", help="comma separated, e.g. SUN,IBM")
    args = parser.parse_args()
    chosen = choose_symbols(args.symbols)
    try:
        listener = StockSubscriber(chosen, limit=args.count)
    except NamingError as e:
        print("No event server found; is it running?", e, flush=True)
        return 1
    print("Listening!", flush=True)
    listen(listener, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
