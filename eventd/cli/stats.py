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
        "included), subscriptions, and events published, delivered and dropped since "
        "it started; then one row per subscribing connection with its subscriptions, "
        "events queued now, the most ever queued, and events delivered and dropped.",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help='print one JSON object instead, for scripts: the keys "uptime", '
        '"connections", "subscriptions", "patterns", "published", "delivered", '
        '"dropped" and "subscribers" (a list of objects with the keys "peer", '
        '"subscriptions", "queue_depth", "high_water", "delivered", "dropped")',
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
)
"""The totals the table shows after the uptime, in order."""

COLUMNS = ("peer", "subscriptions", "queue_depth", "high_water", "delivered", "dropped")
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
    width = max(len(name) for name, _ in totals)
    lines = [f"{name:<{width}}  {value}" for name, value in totals]
    lines.append("")
    if not subscribers:
        lines.append("no subscribers")
        return "\n".join(lines)
    rows = [COLUMNS]
    rows += [tuple(str(row[column]) for column in COLUMNS) for row in subscribers]
    widths = [max(len(row[n]) for row in rows) for n in range(len(COLUMNS))]
    for row in rows:
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(fits) for cell, fits in zip(row[1:], widths[1:])]
        lines.append("  ".join(cells))
    return "\n".join(lines)
