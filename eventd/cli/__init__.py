"""
The C{eventd} command: C{eventd pub}, C{sub} and C{stats} for shells and
scripts, and C{systemd-units}, C{service} and C{passwd} for operators.

The networked subcommands use the Twisted client, so they reach the server
exactly as a Twisted application would.  Each subcommand lives in a module
of its own and is one function, listed in L{SUBCOMMANDS}, that adds its
parser and names what runs it; L{main} knows none of them, so a new
subcommand is one more function.
"""

from argparse import ArgumentParser
from typing import Callable, Optional, Sequence

from eventd.cli.connected import Subparsers
from eventd.cli.passwd import add_passwd
from eventd.cli.pub import add_pub
from eventd.cli.service import add_service, add_systemd_units
from eventd.cli.stats import add_stats
from eventd.cli.sub import add_sub

SUBCOMMANDS: tuple[Callable[[Subparsers], None], ...] = (
    add_pub, add_sub, add_stats, add_systemd_units, add_service, add_passwd
)
"""Each adds one subcommand's parser, and sets C{run} to what runs it."""


def main(argv: Optional[Sequence[str]] = None) -> None:
    """
    Run the C{eventd} command with C{argv} (default: the process's own
    arguments); networked subcommands exit the process when done.
    """
    args = build_parser().parse_args(argv)
    args.run(args)


def build_parser() -> ArgumentParser:
    """
    The C{eventd} command's parser, with every subcommand (the man page's
    test reads every option from it).
    """
    parser = ArgumentParser(
        prog="eventd", description="Publish and subscribe on an eventd event server."
    )
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in SUBCOMMANDS:
        add(subcommands)
    return parser
