"""
Which server a client reaches: a Twisted client endpoint string, such as
the C{URI=} line of the server's banner, made into an endpoint.

C{tls:} strings verify the server's certificate.  Twisted's own C{tls:}
takes its certificate authorities from a directory (C{trustRoots=}) or from
the system; a private CA usually comes as one PEM file, which a client names
with C{ca} (or C{$EVENTD_CA}, or C{eventd --ca}).
"""

import os
from typing import Optional

from twisted.internet.endpoints import HostnameEndpoint, clientFromString, wrapClientTLS
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.internet.ssl import (
    Certificate,
    PrivateCertificate,
    optionsForClientTLS,
    trustRootFromCertificates,
)

PEM_CERTIFICATE = b"-----BEGIN CERTIFICATE-----"

TLS_OPTIONS_WITH_CA = ("host", "port", "timeout", "certificate", "privateKey")
"""The arguments of a C{tls:} string that may go with C{ca}: all of
Twisted's but C{trustRoots} (the CA file replaces it), C{bindAddress} and
C{endpoint}."""


def client_endpoint(
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


def trust_root(path: str):
    """
    The certificate authorities of a PEM file (one certificate or several).

    @raise ValueError: if it cannot be read or holds no certificate.
    """
    try:
        with open(path, "rb") as file:
            pem = file.read()
    except OSError as e:
        raise ValueError(f"cannot read the CA file {path}: {e.strerror}") from None
    blocks = [PEM_CERTIFICATE + block for block in pem.split(PEM_CERTIFICATE)[1:]]
    if not blocks:
        raise ValueError(f"the CA file {path} holds no PEM certificate")
    try:
        return trustRootFromCertificates([Certificate.loadPEM(block) for block in blocks])
    except Exception as e:
        raise ValueError(f"the CA file {path} holds a certificate OpenSSL refuses: {e}") from None


def _client_certificate(certificate: Optional[str], key: Optional[str]):
    """
    The client's own certificate and key (for servers that ask for one),
    from PEM files; the key may be in the certificate's file.
    """
    if certificate is None:
        return None
    try:
        with open(certificate, "rb") as file:
            pem = file.read()
        if key is not None:
            with open(key, "rb") as file:
                pem += b"\n" + file.read()
    except OSError as e:
        raise ValueError(f"cannot read the client certificate or key: {e}") from None
    try:
        return PrivateCertificate.loadPEM(pem)
    except Exception as e:
        raise ValueError(
            f"the client certificate {certificate} and its key are not a PEM pair OpenSSL "
            f"takes: {e}"
        ) from None


def _arguments(text: str) -> tuple[list[str], dict[str, str]]:
    """
    The positional and named arguments of an endpoint string (past its
    scheme): separated by colons, C{name=value} for named ones, a backslash
    escaping the next character (C{\\:\\:1} is C{::1}).
    """
    fields: list[tuple[str, Optional[str]]] = []
    current, name, escaped = "", None, False
    for character in text:
        if escaped:
            current, escaped = current + character, False
        elif character == "\\":
            escaped = True
        elif character == ":":
            fields.append((current, name))
            current, name = "", None
        elif character == "=" and name is None:
            name, current = current, ""
        else:
            current += character
    fields.append((current, name))
    positional = [value for value, name in fields if name is None]
    named = {name: value for value, name in fields if name is not None}
    return positional, named
