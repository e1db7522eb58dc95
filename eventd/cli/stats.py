"""
C{eventd stats [--json]}: the server's figures, as a table for people or as
JSON for scripts.
"""

import json
import sys
from argparse import Namespace
from datetime import timedelta
from typing import Any

from twisted.internet.interfaces import IReactorCore

from eventd.cli.connected import Subparsers, add_server_option, run_connected
from eventd.client import EventClient


def add_stats(subcommands: Subparsers) -> None:
    """
    C{eventd stats [--json]}: the server's figures.
    """
    parser = subcommands.add_parser(
        "stats",
        help="show the server's figures: totals, then one row per subscriber",
        description="Show the server's figures: its uptime, connections (this one "
        "included), subscriptions, events published, delivered and dropped since it "
        "started, the memory it holds for clients, slow consumers disconnected, "
        "requests refused and connections closed (by code), and the longest stall of "
        "the last minute, logins and failed logins, and what the server admits; then "
        "one row per subscribing connection with its subscriptions, events queued now, "
        "the most ever queued, events delivered and dropped, bytes queued now, what its "
        "full queue does, and the user it logged in as.",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object instead, for scripts, with the keys "
        "docs/protocol.md lists for the Stats command",
    )
    add_server_option(parser)
    parser.set_defaults(run=lambda args: run_connected(_stats, args))



TOTALS = (
    "connections",
    "subscribers",
    "subscriptions",
    "patterns",
    "published",
    "delivered",
    "dropped",
    "slow_consumers",
)
"""The counts the table shows after the uptime, in order."""

COLUMNS = (
    "peer",
    "subscriptions",
    "queue_depth",
    "high_water",
    "delivered",
    "dropped",
    "queue_bytes",
    "policy",
    "user",
)
"""The table's columns, one row per subscriber: the keys of its JSON form."""


async def _stats(reactor: IReactorCore, client: EventClient, args: Namespace) -> None:
    """
    Print the server's figures, as JSON or as a table.
    """
    figures = await client.stats()
    text = json.dumps(figures, indent=2) if args.json else _stats_table(figures)
    sys.stdout.write(text + "\n")


def _stats_table(figures: dict[str, Any]) -> str:
    """
    The figures for a person: the totals, one per line, then the
    subscribers in aligned columns, numbers to the right.
    """
    subscribers = figures["subscribers"]
    counts = {**figures, "subscribers": len(subscribers)}
    totals = [("uptime", str(timedelta(seconds=int(figures["uptime"]))))]
    totals += [(name, str(counts[name])) for name in TOTALS]
    totals += [
        ("memory", f"{figures['memory_bytes']} bytes (peak {figures['memory_peak_bytes']}, "
                   f"budget {figures['memory_budget_bytes']})"),
        ("refused", _by_code(figures["refused"])),
        ("closed", _by_code(figures["closed"])),
        ("longest_stall", f"{figures['longest_stall'] * 1000:.1f} ms in the last minute"),
        ("logins", f"{_by_code(figures['logins'])}; {figures['login_failures']} failed"),
        ("security", _security(figures["security"])),
    ]
    width = max(len(name) for name, _ in totals)
    lines = [f"{name:<{width}}  {value}" for name, value in totals]
    lines.append("")
    if not subscribers:
        lines.append("no subscribers")
        return "\n".join(lines)
    rows = [COLUMNS]
    rows += [tuple(_cell(row[column]) for column in COLUMNS) for row in subscribers]
    widths = [max(len(row[n]) for row in rows) for n in range(len(COLUMNS))]
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(fits) for cell, fits in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
    return "\n".join(lines)


def _cell(value: object) -> str:
    """
    A value as its column shows it: an anonymous subscriber's user as C{-}.
    """
    return "-" if value is None else str(value)


def _security(security: dict[str, Any]) -> str:
    """
    What the server admits, on one line.
    """
    return (
        f"logins by {security['authentication']}; client certificates "
        f"{'verified' if security['client_certificates'] else 'not asked for'}; "
        f"anonymous clients {'admitted' if security['anonymous'] else 'refused'}; "
        f"access list {security['acl']}"
    )


def _by_code(counts: dict[str, int]) -> str:
    """
    Counts by code, on one line: C{SLOW_CONSUMER 2, HEARTBEAT_TIMEOUT 1}.
    """
    return ", ".join(f"{code} {count}" for code, count in counts.items()) or "none"
