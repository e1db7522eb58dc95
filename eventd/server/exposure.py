"""
Whether a server listens beyond this host.

A server that anybody on the network can reach must not admit everybody by
accident: without credentials it refuses to start on such an address unless
the operator says so (C{--allow-anonymous}), as Mosquitto 2 and Redis's
protected mode do.  Loopback addresses and unix sockets reach only this
host; anything else, including an endpoint of a kind we cannot see into,
counts as exposed.
"""

import ipaddress
import os
import socket
from typing import Optional

from twisted.internet.endpoints import serverFromString

from eventd.wire.addresses import endpoint_arguments

LOCAL_NAMES = ("localhost",)
"""Host names that are loopback wherever eventd runs."""


def exposed_address(description: str) -> Optional[str]:
    """
    The address beyond this host a server endpoint string listens on, or
    None if it reaches only this host.  A C{systemd:} endpoint's address is
    that of the socket systemd passed.
    """
    scheme, _, rest = description.partition(":")
    if scheme == "unix":
        return None
    if scheme in ("tcp", "tcp6", "ssl"):
        interface = endpoint_arguments(rest)[1].get("interface", "")
        if _is_loopback(interface):
            return None
        return interface or ("::" if scheme == "tcp6" else "0.0.0.0")
    if scheme == "systemd":
        return _systemd_address(description)
    return description


def _is_loopback(host: str) -> bool:
    if host.lower() in LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # '' (every interface), or a name that may be anything
        return False


def _systemd_address(description: str) -> Optional[str]:
    """
    The address of the socket systemd passed for a C{systemd:} endpoint,
    if it is beyond this host (or cannot be told).  Twisted has taken the
    passed sockets out of the environment by now; its endpoint knows which
    is this one.
    """
    from twisted.internet import reactor

    try:
        fd = serverFromString(reactor, description).fileno
        with socket.socket(fileno=os.dup(fd)) as passed:
            if passed.family == socket.AF_UNIX:
                return None
            host = passed.getsockname()[0]
    except Exception:
        return "a systemd socket eventd cannot see into"
    return None if _is_loopback(host) else host
