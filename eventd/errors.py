"""
The errors eventd reports, and the one table of their wire codes.

Each error a server can report travels over the wire: the server raises it,
AMP sends its code from L{WIRE_CODES} and its message, and a Twisted
client's Deferred fails with the same class, carrying the server's
explanation.  docs/protocol.md lists the same codes (a test compares them).
"""


class EventdError(Exception):
    """
    Base class of every error eventd reports.
    """


class BadArguments(EventdError):
    """
    A command's arguments could not be decoded (wrong type, missing, or
    malformed), so the command was not run.
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
    A published message, or a whole box, is bigger than the server allows.
    """


class TooManySubscriptions(EventdError):
    """
    A connection asked for more subscriptions than the server allows it, or
    than the server holds in all.
    """


class LimitExceeded(EventdError):
    """
    A request is over one of the server's limits on what one request may
    cost; the message names the limit and the option that sets it.
    """


class AuthRequired(EventdError):
    """
    The server admits only clients that log in, and this one sent another
    command first.
    """


class LoginFailed(EventdError):
    """
    A login was refused: the user is unknown, the passphrase or password is
    wrong, or (on the client's side) the server could not prove that it
    knows them.
    """


class PermissionDenied(EventdError):
    """
    The server's access list does not let this user do that: publish on
    that subject, subscribe to it, or read the server's figures.
    """


WIRE_CODES: dict[type[EventdError], bytes] = {
    BadArguments: b"BAD_ARGUMENTS",
    BadSubject: b"BAD_SUBJECT",
    BadPattern: b"BAD_PATTERN",
    MessageTooLarge: b"MESSAGE_TOO_LARGE",
    TooManySubscriptions: b"TOO_MANY_SUBSCRIPTIONS",
    LimitExceeded: b"LIMIT_EXCEEDED",
    AuthRequired: b"AUTH_REQUIRED",
    LoginFailed: b"AUTH_FAILED",
    PermissionDenied: b"PERMISSION_DENIED",
}
"""
Every error the server reports, by the code it has on the wire.  Commands
name the errors they may answer with (L{eventd.wire.commands}); the codes
come from here alone.
"""


def wire_errors(*errors: type[EventdError]) -> dict[type[EventdError], bytes]:
    """
    The C{errors} table of an AMP command that may answer with these errors.
    """
    return {error: WIRE_CODES[error] for error in errors}


class CannotConnect(EventdError, ConnectionError):
    """
    No event server answered at the address a client was given.  (A
    client's own error: it never travels over the wire.)
    """


NamingError = CannotConnect
"""
Pyro 3's name for "the event server cannot be found", so that ported code's
C{except NamingError} keeps working.
"""


ConnectionDeniedError = LoginFailed
"""
Pyro 3's name for "the server refused this client's passphrase", so that
ported code's C{except ConnectionDeniedError} keeps working.
"""
