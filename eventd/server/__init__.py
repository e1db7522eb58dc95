"""
The event server.

Run it with C{twistd eventd} (L{eventd.server.tap}).  A Twisted program can
run it inside its own application instead:

    from eventd.server import EventService, ServerConfig

    service = EventService([serverFromString(reactor, "tcp:7766")],
                           ServerConfig(queue_size=5000), reactor)
    service.setServiceParent(application)

Inward from the service: L{eventd.server.protocol} (one client's
connection) and L{eventd.server.responders} (its commands) call
L{eventd.server.fanout} and L{eventd.server.broker} (who gets what, with no
sockets), which hand events to L{eventd.server.queues} (one subscriber's
bounded queue).  Who is admitted and what they may do is
L{eventd.server.security}'s: the accounts (L{eventd.server.accounts},
L{eventd.server.users}), twisted.cred's portal (L{eventd.server.portal}),
one connection's login (L{eventd.server.login}) and the access list
(L{eventd.server.permissions}); docs/security.md tells operators.
"""

from eventd.server.config import ServerConfig, WhenFull
from eventd.server.service import EventService

__all__ = ["EventService", "ServerConfig", "WhenFull"]
