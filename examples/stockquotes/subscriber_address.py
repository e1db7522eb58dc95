#!/usr/bin/env python3
"""
The subscriber of subscriber.py, told the server's address on the command
line instead of finding it by itself (Pyro 3's stockquotes/Client_noNS.py,
which asked for the Event Server's URI).

    twistd -n eventd                   # prints: ... URI= tcp:127.0.0.1:7766
    python subscriber_address.py tcp:127.0.0.1:7766 [SUN,IBM] [--count N] [--seconds S]
"""

import sys

from subscriber import StockSubscriber, choose_symbols, listen, options

from eventd.errors import NamingError


def main():
    parser = options(__doc__)
    parser.add_argument("uri", help="the server's address: the URI= value of its banner")
    parser.add_argument("symbols", nargs="?", help="comma separated (default: ask)")
    args = parser.parse_args()
    chosen = choose_symbols(args.symbols)
    try:
        listener = StockSubscriber(chosen, esURI=args.uri, limit=args.count)
    except NamingError as e:
        print("No event server at that address:", e, flush=True)
        return 1
    print("Listening!", flush=True)
    listen(listener, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
