"""
C{python -m eventd [options]}: the server in the foreground, as
C{python -m Pyro.EventService.Server} started Pyro's; the same as
C{twistd -n --pidfile= eventd [options]}, without depending on twistd's
plugin discovery.
"""

import sys

from twisted.application.app import run
from twisted.scripts import twistd

from twisted.plugins.eventd_plugin import eventd


class _EventdOnly(twistd.ServerOptions):
    """
    twistd's options with the eventd plugin as the one subcommand, named
    directly rather than found by scanning every plugin.
    """

    @property
    def subCommands(self):
        self.loadedPlugins = {eventd.tapname: eventd}
        yield (eventd.tapname, None, lambda: eventd.options(), eventd.description)


def main(argv: list[str]) -> None:
    sys.argv = [f"{sys.executable} -m eventd", "--nodaemon", "--pidfile=", "eventd", *argv]
    run(twistd.runApp, _EventdOnly)


if __name__ == "__main__":
    main(sys.argv[1:])
