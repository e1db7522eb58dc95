"""
What the server counts of its clients' mistakes and of the connections it
closes: refusals by their error code, closings by their Goodbye code; and
of their logins.  The
figures (L{eventd.server.stats}) and the metrics read them.
"""

from collections import Counter


class Counters:
    """
    Counts kept while the server runs.

    @ivar refused: requests refused, by error code (whether the client was
        told, in an answer, or not, for a request that asked for none).
    @ivar closed: connections the server closed, by Goodbye code.
    @ivar logins: connections admitted as a user, by how they proved it
        (C{scram}, C{certificate}).
    @ivar login_failures: logins refused for a wrong user name or secret.
    """

    def __init__(self) -> None:
        self.refused: Counter[str] = Counter()
        self.closed: Counter[str] = Counter()
        self.logins: Counter[str] = Counter()
        self.login_failures = 0
