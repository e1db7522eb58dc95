"""
What the server and its clients share: the wire.

  - L{eventd.wire.commands}: the AMP commands, the schema docs/protocol.md
    describes;
  - L{eventd.wire.arguments}: the argument types those commands need
    beyond AMP's own (values longer than one AMP value, JSON);
  - L{eventd.wire.records}: the MessagePack records of events and of
    one-way publishes, which the server passes on without decoding;
  - L{eventd.wire.subjects}: what a subject is and how a pattern matches
    one;
  - L{eventd.wire.addresses}: the endpoint strings servers announce and
    clients take;
  - L{eventd.wire.certificates}: certificates and keys from PEM files, for
    both ends of a TLS connection;
  - L{eventd.wire.secrets}: a passphrase or password read from a file,
    never from a command line.

Nothing here imports from the server (L{eventd.server}) or the clients
(L{eventd.client}, L{eventd.blocking}); both import from here.
"""
