"""
C{python -m eventd [options]}: the server in the foreground, as
C{python -m Pyro.EventService.Server} started Pyro's; the same as
C{twistd -n --pidfile= eventd [options]}, without depending on twistd's
plugin discovery.
"""

import sys

from twisted.application.app import run
from twisted.application.service import ServiceMaker
from twisted.scripts import twistd

_EVENTD = ServiceMaker("eventd", "eventd.tap", "the eventd event server", "eventd")


class _EventdOnly(twistd.ServerOptions):
    """
    twistd's options with eventd as the one subcommand.
    """

    @property
    def subCommands(self):
        self.loadedPlugins = {_EVENTD.tapname: _EVENTD}
        yield (_EVENTD.tapname, None, lambda: _EVENTD.options(), _EVENTD.description)


def main(argv: list[str]) -> None:
    sys.argv = [f"{sys.executable} -m eventd", "--nodaemon", "--pidfile=", "eventd", *argv]
    run(twistd.runApp, _EventdOnly)


if __name__ == "__main__":
    main(sys.argv[1:])
