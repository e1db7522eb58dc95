"""
The twistd plugin: C{twistd eventd}.  Importing this file imports nothing
of eventd's; twistd loads eventd.tap only when the plugin is used.
"""

from twisted.application.service import ServiceMaker

eventd = ServiceMaker(
    "eventd",
    "eventd.tap",
    "A publish/subscribe event server (the Pyro 3 Event Server, on Twisted).",
    "eventd",
)
