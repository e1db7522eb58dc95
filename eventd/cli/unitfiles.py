"""
eventd's systemd unit files, and installing them: what Pyro 3's Windows
service control (install, update, remove, start, stop) did for its event
server, the systemd way.

The units ship in C{eventd/cli/units/} as templates naming twistd C{@TWISTD@}:
a unit's C{ExecStart=} needs the absolute path of the twistd that has eventd
installed, and only the installation knows it.  By default that is the
twistd beside the running Python (a virtual environment's, say); packagers
building for another machine name the final path.  Neither C{/usr/bin/env
twistd} (systemd's PATH does not reach a virtual environment, and the
first twistd on it may belong to a Python without eventd) nor a fixed
C{/usr/bin/twistd} would name the right program in general.

The server's options live in an environment file, C{EVENTD_OPTIONS="..."}
in C{/etc/default/eventd}, where Pyro kept C{PyroServiceArguments} in the
registry.
"""

import os
import re
import subprocess
import sys
from importlib.resources import files
from pathlib import Path, PurePosixPath
from typing import Callable, Optional, Sequence

SERVICE = "eventd.service"
SOCKET = "eventd.socket"
UNIT_NAMES = (SERVICE, SOCKET, "eventd@.service", "eventd@.socket")
"""The units: the server and its socket, and templates of both for running
several servers, one per port."""

TWISTD_PLACEHOLDER = "@TWISTD@"
"""What the templates say where the path of twistd goes."""

UNIT_DIR = PurePosixPath("etc/systemd/system")
"""Where the units go, under the root: where an administrator's own units
live."""

ENVIRONMENT_FILE = PurePosixPath("etc/default/eventd")
"""The server options of eventd.service, under the root (eventd@PORT.service
reads etc/default/eventd-PORT, which the administrator writes)."""

HIDDEN_BY_PROTECT_HOME = ("/home", "/root", "/run/user")
"""What the units' C{ProtectHome=yes} makes invisible to the server."""

_SAFE_PATH = re.compile(r"/[A-Za-z0-9_@+,./-]*")
"""A path a unit can name as it is: nothing systemd would take for quoting,
a specifier (%) or a variable ($)."""

_PLAIN_WORD = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")
"""An option that needs no quoting, neither in a shell nor in systemd."""

Systemctl = Callable[[Sequence[str]], int]
"""Runs C{systemctl} with these arguments, returning its exit status."""


class UnitFileError(Exception):
    """
    Something the user must fix, said in one line.
    """


def default_twistd() -> str:
    """
    The twistd beside the running Python: the one that runs this eventd.

    @raise UnitFileError: if there is none.
    """
    twistd = Path(sys.executable).parent / "twistd"
    if not os.access(twistd, os.X_OK):
        raise UnitFileError(f"no twistd beside {sys.executable}: name one with --twistd")
    return str(twistd)


def render_units(twistd: str) -> dict[str, str]:
    """
    The unit files, by name, their C{ExecStart=} running C{twistd}.

    @param twistd: the absolute path twistd has on the machine the units
        are for.
    @raise UnitFileError: if the units could not run that twistd.
    """
    if not _SAFE_PATH.fullmatch(twistd):
        raise UnitFileError(
            f"twistd path {twistd!r} is not absolute or has characters a unit "
            "file would need quoted: install eventd under a plainer path"
        )
    hidden = [top for top in HIDDEN_BY_PROTECT_HOME if twistd.startswith(top + "/")]
    if hidden:
        raise UnitFileError(
            f"twistd {twistd} is under {hidden[0]}, which the units' ProtectHome=yes "
            "hides from the server: install eventd elsewhere (e.g. a virtual "
            "environment in /opt/eventd), or name another twistd with --twistd"
        )
    templates = files("eventd.cli") / "units"
    return {
        name: (templates / name).read_text().replace(TWISTD_PLACEHOLDER, twistd)
        for name in UNIT_NAMES
    }


def environment_file_text(options: Sequence[str]) -> str:
    """
    The environment file holding the server's C{options}.

    systemd splits C{$EVENTD_OPTIONS} into words the way a shell would, and
    reads the file's double-quoted value as a shell would too; so does a
    shell that sources the file.  Both steps are quoted here, so each option
    reaches the server exactly as given (C{tcp:0:interface=\\:\\:1}
    included).

    @raise UnitFileError: for an option holding a line break, which the file
        cannot carry.
    """
    for option in options:
        if "\n" in option or "\r" in option:
            raise UnitFileError(f"a server option cannot hold a line break: {option!r}")
    value = _shell_escape(" ".join(_quote_word(option) for option in options))
    return (
        "# Options of the eventd server (see `twistd eventd --help`), read by\n"
        "# eventd.service. Written by `eventd service install`; `eventd service\n"
        "# update -- OPTIONS...` rewrites it.\n"
        f'EVENTD_OPTIONS="{value}"\n'
    )


def _quote_word(option: str) -> str:
    if _PLAIN_WORD.fullmatch(option):
        return option
    return f'"{_shell_escape(option)}"'


def _shell_escape(text: str) -> str:
    """What a shell's double quotes (and systemd's) need escaped."""
    return re.sub(r'([\\"$`])', r"\\\1", text)


def write_units(directory: Path, twistd: str) -> list[Path]:
    """
    Write the unit files into C{directory} (made if need be).

    @return: the files written.
    @raise UnitFileError: if the units cannot run that twistd, or cannot be
        written.
    """
    units = render_units(twistd)
    written = []
    for name, text in units.items():
        written.append(_write(directory / name, text))
    return written


def install(
    root: Path,
    twistd: str,
    options: Sequence[str],
    systemctl: Optional[Systemctl] = None,
) -> list[Path]:
    """
    Install eventd as a service of the system under C{root}: the units, and
    the environment file holding the server C{options}.  Refuses to replace
    an installation (L{update} does that).

    @param systemctl: if given, the system under C{root} is the running
        one: reload systemd's configuration and enable eventd.socket, so
        that the server starts with the first client after each boot.
    @return: the files written.
    """
    units = root / UNIT_DIR
    if (units / SERVICE).exists():
        raise UnitFileError(
            f"eventd is already installed in {units}: `eventd service update` rewrites it"
        )
    written = _write_installation(root, twistd, options)
    if systemctl is not None:
        _refresh_plugin_cache()
        _run(systemctl, "daemon-reload")
        _run(systemctl, "enable", SOCKET)
    return written


def update(
    root: Path,
    twistd: str,
    options: Sequence[str],
    systemctl: Optional[Systemctl] = None,
) -> list[Path]:
    """
    Rewrite an installation: the units always (for a new eventd, or another
    twistd), the environment file only when new C{options} are given, so
    that options set before, by hand or not, survive an upgrade.

    @param systemctl: if given, the system under C{root} is the running
        one: reload systemd's configuration and restart the server if it
        runs.
    @return: the files written.
    """
    units = root / UNIT_DIR
    if not (units / SERVICE).exists():
        raise UnitFileError(
            f"eventd is not installed in {units}: `eventd service install` installs it"
        )
    written = _write_installation(root, twistd, options)
    if systemctl is not None:
        _refresh_plugin_cache()
        _run(systemctl, "daemon-reload")
        _run(systemctl, "try-restart", SERVICE)
    return written


def remove(root: Path, systemctl: Optional[Systemctl] = None) -> list[Path]:
    """
    Remove the units and the environment file from the system under
    C{root}.  Instances of the eventd@ templates and their environment
    files are the administrator's, and stay.

    @param systemctl: if given, the system under C{root} is the running
        one: stop and disable the server first, and reload systemd's
        configuration after.
    @return: the files removed.
    """
    units = root / UNIT_DIR
    if not (units / SERVICE).exists():
        raise UnitFileError(f"eventd is not installed in {units}")
    if systemctl is not None:
        _run(systemctl, "disable", "--now", SOCKET, SERVICE)
    removed = []
    for path in [units / name for name in UNIT_NAMES] + [root / ENVIRONMENT_FILE]:
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        except OSError as error:
            raise UnitFileError(f"cannot remove {path}: {error.strerror or error}") from None
        removed.append(path)
    if systemctl is not None:
        _run(systemctl, "daemon-reload")
    return removed


CONTROLS: dict[str, tuple[str, ...]] = {
    "start": ("start", SOCKET, SERVICE),
    "stop": ("stop", SOCKET, SERVICE),
    "restart": ("restart", SERVICE),
    "status": ("status", SOCKET, SERVICE),
}
"""
What each control command asks of systemctl.  Start and stop take the
socket along: a stopped server whose socket still listens would start again
at the next connection.  Restart leaves the socket listening, so clients
that connect meanwhile wait rather than being refused.
"""


def control(action: str, systemctl: Systemctl) -> int:
    """
    Start, stop, restart or show the status of the installed server.

    @return: systemctl's exit status (for status, 3 means not running).
    """
    return systemctl(CONTROLS[action])


def run_systemctl(arguments: Sequence[str]) -> int:
    """
    Run the system's C{systemctl}; it speaks to the user directly.

    @raise UnitFileError: if there is no systemctl.
    """
    try:
        return subprocess.run(["systemctl", *arguments]).returncode
    except FileNotFoundError:
        raise UnitFileError(
            "no systemctl here: is this a systemd system? "
            "(--root DIR writes the files without it)"
        ) from None


def _write_installation(root: Path, twistd: str, options: Sequence[str]) -> list[Path]:
    """
    Write the units and, if there are C{options} or there is no environment
    file yet, the environment file.
    """
    environment = environment_file_text(options)
    written = write_units(root / UNIT_DIR, twistd)
    environment_file = root / ENVIRONMENT_FILE
    if options or not environment_file.exists():
        written.append(_write(environment_file, environment))
    return written


def _write(path: Path, text: str) -> Path:
    """
    Write one file, readable by all as unit files are, whatever the umask.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UnitFileError(f"cannot write into {path.parent}: not a directory") from None
    except OSError as error:
        raise UnitFileError(
            f"cannot make directory {path.parent}: {error.strerror or error}"
        ) from None
    try:
        path.write_text(text)
        path.chmod(0o644)
    except OSError as error:
        raise UnitFileError(f"cannot write {path}: {error.strerror or error}") from None
    return path


def _run(systemctl: Systemctl, *arguments: str) -> None:
    status = systemctl(arguments)
    if status != 0:
        raise UnitFileError(
            f"`systemctl {' '.join(arguments)}` failed (exit status {status})"
        )


def _refresh_plugin_cache() -> None:
    """
    Rewrite twistd's plugin cache (dropin.cache) now, while we may: the
    server runs with ProtectSystem=strict and cannot, so with a stale cache
    it would scan every plugin at each start and log that it could not save
    the result.
    """
    from twisted.plugin import IPlugin, getPlugins

    list(getPlugins(IPlugin))
