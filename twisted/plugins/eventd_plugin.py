"""
The twistd plugin: C{twistd eventd}.  Importing this file imports nothing
of eventd's; twistd loads eventd.server.tap only when the plugin is used.
"""

from twisted.application.service import ServiceMaker

eventd = ServiceMaker(
    "eventd",
    "eventd.server.tap",
    "A publish/subscribe event server (the Pyro 3 Event Server, on Twisted).",
    "eventd",
)
