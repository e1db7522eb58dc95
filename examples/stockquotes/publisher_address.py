#!/usr/bin/env python3
"""
The stock markets of publisher.py, told the server's address on the command
line instead of finding it by themselves (Pyro 3's stockquotes/Server_noNS.py,
which asked for the Event Server's URI).

    twistd -n eventd                   # prints: ... URI= tcp:127.0.0.1:7766
    python publisher_address.py tcp:127.0.0.1:7766 [--count N] [--seconds S]
"""

import sys

from publisher import StockMarket, options, symbols, trade

from eventd.errors import NamingError


def main():
    parser = options(__doc__)
    parser.add_argument("uri", help="the server's address: the URI= value of its banner")
    args = parser.parse_args()
    try:
        market1 = StockMarket(symbols[:3], args.uri)
        market2 = StockMarket(symbols[3:], args.uri)
    except NamingError as e:
        print("No event server at that address:", e, flush=True)
        return 1
    print("Publishing quotes.", flush=True)
    try:
        trade((market1, market2), args.count, args.seconds, args.pause)
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
