"""
Which server a client reaches: a Twisted client endpoint string, such as
the C{URI=} line of the server's banner, made into an endpoint; or several,
separated by whitespace, made into one that fails over from one to the next
(L{eventd.client.failover}).

C{tls:} strings verify the server's certificate.  Twisted's own C{tls:}
takes its certificate authorities from a directory (C{trustRoots=}) or from
the system; a private CA usually comes as one PEM file, which a client names
with C{ca} (or C{$EVENTD_CA}, or C{eventd --ca}).
"""

import os
from typing import Optional

from twisted.internet.endpoints import HostnameEndpoint, clientFromString, wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.ssl import optionsForClientTLS

from eventd.client.failover import FailoverEndpoint
from eventd.wire.addresses import endpoint_arguments as _arguments
from eventd.wire.certificates import private_certificate, trust_root

TLS_OPTIONS_WITH_CA = ("host", "port", "timeout", "certificate", "privateKey")
"""The arguments of a C{tls:} string that may go with C{ca}: all of
Twisted's but C{trustRoots} (the CA file replaces it), C{bindAddress} and
C{endpoint}."""


def client_endpoint(
    reactor: object, description: str, ca: Optional[str] = None
) -> IStreamClientEndpoint:
    """
    The endpoint C{description} names; if it names several, separated by
    whitespace, a L{FailoverEndpoint} of them.

    @raise ValueError: naming what is wrong, if a string or the CA file is
        unusable, or there is no string at all.
    """
    descriptions = description.split()
    if not descriptions:
        raise ValueError("no server endpoint given")
    if len(descriptions) == 1:
        return _one_endpoint(reactor, descriptions[0], ca)
    endpoints = [_one_endpoint(reactor, one, ca) for one in descriptions]
    return FailoverEndpoint(endpoints, descriptions)


def _one_endpoint(
    reactor: object, description: str, ca: Optional[str] = None
) -> IStreamClientEndpoint:
    """
    The endpoint C{description} names, as C{clientFromString} makes it;
    for a C{tls:} string, one that verifies the server against the
    certificates of the PEM file C{ca} (else of C{$EVENTD_CA}, else of the
    system) instead.

    @raise ValueError: naming what is wrong, if the string or the CA file
        is unusable.
    """
    ca = ca or os.environ.get("EVENTD_CA") or None
    if ca is None or not description.startswith("tls:"):
        return clientFromString(reactor, description)
    positional, named = _arguments(description.removeprefix("tls:"))
    for name, value in zip(("host", "port"), positional):
        named.setdefault(name, value)
    unknown = set(named) - set(TLS_OPTIONS_WITH_CA)
    if unknown or len(positional) > 2 or not {"host", "port"} <= set(named):
        raise ValueError(
            f"{description!r}: with a CA file, a tls: endpoint takes a host, a port "
            f"and only {', '.join(TLS_OPTIONS_WITH_CA[2:])}"
        )
    host = named["host"]
    try:
        port, timeout = int(named["port"]), float(named.get("timeout", 30))
    except ValueError:
        raise ValueError(f"{description!r}: the port and timeout must be numbers") from None
    options = optionsForClientTLS(
        host,
        trustRoot=trust_root(ca),
        clientCertificate=_client_certificate(named.get("certificate"), named.get("privateKey")),
    )
    return wrapClientTLS(options, HostnameEndpoint(reactor, host.encode("idna"), port, timeout))


def _client_certificate(certificate: Optional[str], key: Optional[str]):
    """
    The client's own certificate and key (for servers that ask for one),
    from PEM files; the key may be in the certificate's file.
    """
    if certificate is None:
        return None
    return private_certificate(certificate, key, "client")


def tls_reason(error: Exception) -> str:
    """
    What OpenSSL's error says, in words: C{tlsv13 alert certificate
    required} rather than its list of (library, function, reason) tuples.
    """
    reasons = [entry[-1] for entry in (error.args[0] if error.args else ()) if entry]
    return ", ".join(str(reason) for reason in reasons if reason) or str(error)
