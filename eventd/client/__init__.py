"""
The Twisted client: C{client = await connect("tcp:127.0.0.1:7766")}.

L{EventClient} (in L{eventd.client.event_client}) is what an application
holds: it publishes, subscribes, and reconnects.  Underneath,
L{eventd.client.connection} is one AMP connection to the server,
L{eventd.client.login} logs it in (SCRAM-SHA-256, checking the server's
signature), L{eventd.client.endpoints} makes the endpoint string (and a
C{tls:} CA file) into an endpoint, and L{eventd.client.handlers} picks the
handlers of each event.
"""

import os
from typing import Optional, Sequence, Union

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IStreamClientEndpoint

from eventd.client.endpoints import client_endpoint
from eventd.client.event_client import EventClient, Handler
from eventd.client.login import Credentials
from eventd.codecs import codec_named
from eventd.event import Event
from eventd.wire.addresses import DEFAULT_ENDPOINT

__all__ = ["connect", "server_address", "EventClient", "Event", "Handler", "DEFAULT_ENDPOINT"]


def server_address(endpoint: Union[None, str, Sequence[str]] = None) -> str:
    """
    The endpoint string a client should use: C{endpoint} if given, else the
    EVENTD_ENDPOINT environment variable, else L{DEFAULT_ENDPOINT}.  Several
    servers, to fail over from one to the next, are a list or one string
    separated by whitespace; a leading C{URI=} (as the server's banner
    prints it) is dropped from each.
    """
    chosen = endpoint or os.environ.get("EVENTD_ENDPOINT") or DEFAULT_ENDPOINT
    parts = chosen.split() if isinstance(chosen, str) else [p for one in chosen for p in one.split()]
    return " ".join(part for part in (p.removeprefix("URI=") for p in parts) if part)


def connect(
    endpoint: Union[str, Sequence[str], IStreamClientEndpoint],
    reactor: Optional[object] = None,
    codec: str = "json",
    ca: Optional[str] = None,
    *,
    ident: Optional[str] = None,
    user: Optional[str] = None,
    password: Optional[str] = None,
) -> "Deferred[EventClient]":
    """
    Connect to an eventd server.

    @param endpoint: a Twisted client endpoint string such as
        C{tcp:127.0.0.1:7766} (what the server's banner prints after
        C{URI=}; the C{URI=} itself may be left in), or an endpoint; or
        several servers, as a list or one string separated by whitespace:
        the client reaches the first that answers, and on losing it fails
        over to the next, subscribing again there.
    @param codec: how messages are encoded: C{json} (the default) or C{raw}
        (bytes as they are).
    @param ca: for a C{tls:} endpoint string, a PEM file of the certificate
        authorities that may vouch for the server (default
        C{$EVENTD_CA}, else the system's).
    @param ident: the server's shared passphrase (its C{--ident}; Pyro's
        ident), to log in with.
    @param user: the user to log in as (one of the server's C{--users}),
        with C{password}.
    @return: a Deferred firing with an L{EventClient} once connected (and
        logged in), or failing if the server cannot be reached, or with
        L{eventd.errors.LoginFailed} if it refuses the login.
    @raise ValueError: if both C{ident} and C{user} are given, or C{user}
        without C{password}.
    """
    if reactor is None:
        from twisted.internet import reactor
    chosen = codec_named(codec)
    credentials = Credentials.chosen(ident, user, password)
    if isinstance(endpoint, (str, list, tuple)):
        endpoint = client_endpoint(reactor, server_address(endpoint), ca)
    return EventClient(endpoint, reactor, chosen, credentials).start()
