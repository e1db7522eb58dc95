"""
Addresses as text: where a server listens by default, the banner's URI that
clients take, the arguments of an endpoint string, and the peer names in
logs.
"""

from typing import Optional

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.endpoints import quoteStringArgument

DEFAULT_PORT = 7766
"""The server's port when none is given, and where clients look for it."""

DEFAULT_HOST = "127.0.0.1"
"""The server's interface when none is given: loopback only."""

DEFAULT_ENDPOINT = f"tcp:{DEFAULT_HOST}:{DEFAULT_PORT}"
"""Where clients look for the server when told nothing else."""


def client_endpoint_for(address: object, tls: bool = False) -> str:
    """
    The Twisted client endpoint string that reaches a listening address,
    e.g. C{tcp:127.0.0.1:7766} or C{tcp:\\:\\:1:7766} (colons escaped, as
    endpoint strings need), or C{tls:127.0.0.1:7767} for a port that speaks
    TLS.  This is what the banner prints after C{URI=}.
    """
    if isinstance(address, (IPv4Address, IPv6Address)):
        scheme = "tls" if tls else "tcp"
        return f"{scheme}:{quoteStringArgument(address.host)}:{address.port}"
    if isinstance(address, UNIXAddress) and not tls:
        name = address.name.decode() if isinstance(address.name, bytes) else address.name
        return f"unix:{quoteStringArgument(name)}"
    raise ValueError(f"no client endpoint reaches {address!r}{' with TLS' if tls else ''}")


def endpoint_arguments(text: str) -> tuple[list[str], dict[str, str]]:
    """
    The positional and named arguments of an endpoint string (past its
    scheme): separated by colons, C{name=value} for named ones, a backslash
    escaping the next character (C{\\:\\:1} is C{::1}).  Twisted parses
    its strings alike, but only privately; the clients' C{tls:} and the
    server's C{ssl:} with client certificates need the arguments themselves.
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


def peer_name(address: object) -> str:
    """
    A short name for a connected peer, for logs: C{127.0.0.1:40213},
    C{[::1]:40213} or C{unix}.
    """
    if isinstance(address, IPv4Address):
        return f"{address.host}:{address.port}"
    if isinstance(address, IPv6Address):
        return f"[{address.host}]:{address.port}"
    if isinstance(address, UNIXAddress):
        return "unix"
    return str(address)

