"""
C{eventd systemd-units} and C{eventd service}: eventd's systemd units, to
read, to install, and to control the server through (what Pyro 3's Windows
service control did for its event server).  What they do to files is in
L{eventd.cli.unitfiles}.
"""

import sys
from argparse import ArgumentParser, Namespace
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from eventd.cli import unitfiles
from eventd.cli.connected import Subparsers


def add_systemd_units(subcommands: Subparsers) -> None:
    """
    C{eventd systemd-units [--output DIR]}: the systemd units, to read, or
    for a packager to take.
    """
    parser = subcommands.add_parser(
        "systemd-units",
        help="print the systemd unit files, or write them into a directory",
        description="Print eventd's systemd units: eventd.socket (127.0.0.1:7766), "
        "eventd.service (socket-activated, Type=notify, hardened, options from "
        "EVENTD_OPTIONS in /etc/default/eventd) and the templates eventd@.socket and "
        "eventd@.service (one server per port: eventd@7767 reads "
        "/etc/default/eventd-7767). Their ExecStart runs twistd by absolute path.",
    )
    parser.add_argument(
        "--output", metavar="DIR", type=Path, help="write the unit files into DIR instead"
    )
    add_twistd_option(parser)
    parser.set_defaults(run=_systemd_units)


def add_service(subcommands: Subparsers) -> None:
    """
    C{eventd service ACTION}: eventd as a systemd service, as Pyro's
    event server was a Windows service.
    """
    parser = subcommands.add_parser(
        "service",
        help="install eventd as a systemd service, and control it",
        description="Install, update or remove eventd's systemd units and its options "
        "file, or start, stop, restart or show the status of the server through "
        "systemctl.",
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    for name, summary in (
        ("install", "write the units and the options file, then enable eventd.socket"),
        ("update", "rewrite the units (and the options file, if OPTIONs are given), "
                   "then restart the server if it runs"),
    ):
        action = actions.add_parser(
            name,
            help=summary,
            description=f"{summary[0].upper()}{summary[1:]}. The units go into "
            f"/{unitfiles.UNIT_DIR}, the server OPTIONs (those of `twistd eventd`, "
            f"after --) into EVENTD_OPTIONS in /{unitfiles.ENVIRONMENT_FILE}.",
        )
        add_root_option(action)
        add_twistd_option(action)
        action.add_argument(
            "options", metavar="OPTION", nargs="*", help="a server option, after --"
        )
    add_root_option(
        actions.add_parser(
            "remove",
            help="stop and disable the server, remove the units and the options file",
        )
    )
    for name, arguments in unitfiles.CONTROLS.items():
        actions.add_parser(name, help=f"systemctl {' '.join(arguments)}")
    parser.set_defaults(run=_service)




def add_twistd_option(parser: ArgumentParser) -> None:
    """The units name twistd by its path on the machine they are for."""
    parser.add_argument(
        "--twistd",
        metavar="PATH",
        help="the twistd the units run: its absolute path on the machine they are "
        "for (default: the twistd beside this Python)",
    )


def add_root_option(parser: ArgumentParser) -> None:
    """Installing into a tree is for tests and packages: no systemctl then."""
    parser.add_argument(
        "--root",
        metavar="DIR",
        type=Path,
        help="act on the system tree under DIR, e.g. a package being built: "
        "files only, without calling systemctl",
    )


def _systemd_units(args: Namespace) -> None:
    """Print the units, or write them into --output and name the files."""
    with _one_line_errors():
        twistd = args.twistd or unitfiles.default_twistd()
        if args.output is None:
            for name, text in unitfiles.render_units(twistd).items():
                sys.stdout.write(f"### {name}\n{text}\n")
        else:
            for path in unitfiles.write_units(args.output, twistd):
                print(f"wrote {path}")


def _service(args: Namespace) -> None:
    """
    Do what C{eventd service ACTION} asks; the control actions exit with
    systemctl's status (so C{status} says 3 when the server is not running).
    """
    with _one_line_errors():
        if args.action in unitfiles.CONTROLS:
            raise SystemExit(unitfiles.control(args.action, unitfiles.run_systemctl))
        live = args.root is None
        root = Path("/") if live else args.root
        systemctl = unitfiles.run_systemctl if live else None
        if args.action == "remove":
            for path in unitfiles.remove(root, systemctl):
                print(f"removed {path}")
        else:
            change = unitfiles.install if args.action == "install" else unitfiles.update
            twistd = args.twistd or unitfiles.default_twistd()
            for path in change(root, twistd, args.options, systemctl):
                print(f"wrote {path}")


@contextmanager
def _one_line_errors() -> Iterator[None]:
    """What the user must fix is one line on stderr, with status 1."""
    try:
        yield
    except unitfiles.UnitFileError as error:
        raise SystemExit(f"eventd: {error}") from None
