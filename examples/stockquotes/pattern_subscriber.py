#!/usr/bin/env python3
"""
Subscribes with a pattern instead of a list of subjects: every quote of a
symbol starting with S (SUN and SAP).  Pyro 3's stockquotes/MClient.py.

    python pattern_subscriber.py [--count N] [--seconds S]

Patterns are regular expressions, matched from the start of the subject and
ignoring case (eventd compiles them with RE2).
"""

import sys

from subscriber import QuotePrinter, listen, options

from eventd.errors import NamingError


class MatchStockSubscriber(QuotePrinter):
    def __init__(self, pattern, esURI=None, limit=None):
        QuotePrinter.__init__(self, esURI, limit)
        self.subscribeMatch(pattern)


pattern = r"^STOCKQUOTE\.S.*$"


def main():
    args = options().parse_args()
    try:
        listener = MatchStockSubscriber(pattern, limit=args.count)
    except NamingError as e:
        print("No event server found; is it running?", e, flush=True)
        return 1
    print("Listening to the pattern", pattern, flush=True)
    listen(listener, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
