"""
The errors eventd reports to its clients.

Each class here travels over the wire: the AMP commands in L{eventd.commands}
map it to an error code, the server raises it, and a Twisted client's
Deferred fails with the same class, carrying the server's explanation.
"""


class EventdError(Exception):
    """
    Base class of every error eventd reports.
    """


class BadSubject(EventdError, ValueError):
    """
    A subject was empty, too long, or otherwise unusable.
    """


class BadPattern(EventdError, ValueError):
    """
    A subscription pattern is not a regular expression RE2 accepts.
    """


class MessageTooLarge(EventdError, ValueError):
    """
    A published message is bigger than the server's --max-message-bytes.
    """


class TooManySubscriptions(EventdError):
    """
    One connection asked for more subscriptions than the server allows.
    """


class BadArguments(EventdError):
    """
    A command's arguments could not be decoded (wrong type, missing, or
    malformed), so the command was not run.
    """


class CannotConnect(EventdError, ConnectionError):
    """
    No event server answered at the address a client was given.
    """


NamingError = CannotConnect
"""
Pyro 3's name for "the event server cannot be found", so that ported code's
C{except NamingError} keeps working.
"""
