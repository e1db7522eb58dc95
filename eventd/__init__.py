"""
eventd: a publish/subscribe event server, the Pyro 3 Event Server rebuilt on
Twisted.

Run the server with C{twistd -n eventd} (or C{python -m eventd}); connect
from Twisted code with L{eventd.client.connect}.
"""

__version__ = "0.1.0"
