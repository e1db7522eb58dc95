"""
Several servers for one client: an endpoint that connects to the first of
them that answers, starting from the one it reached last.

A client given C{tcp:a:7766 tcp:b:7766} reaches C{a}; when it loses C{a}
(the server stopped, its host died) its reconnection tries C{a} once more,
then C{b}, and so on round the list, and the client subscribes again
wherever it lands.  One attempt of the endpoint tries each server once, so
the client's own backoff paces the rounds, not each server.
"""

from typing import Sequence

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IStreamClientEndpoint
from twisted.python.failure import Failure
from zope.interface import implementer

from eventd.errors import CannotConnect


@implementer(IStreamClientEndpoint)
class FailoverEndpoint:
    """
    Connects to one of several endpoints, in turn.

    @ivar current: the index of the endpoint tried first next time: the
        one last reached.
    """

    def __init__(self, endpoints: Sequence[IStreamClientEndpoint], names: Sequence[str]) -> None:
        """
        @param names: how each endpoint is called in an error (its string).
        """
        if not endpoints or len(endpoints) != len(names):
            raise ValueError("a failover endpoint needs endpoints, each with its name")
        self._endpoints = list(endpoints)
        self._names = list(names)
        self.current = 0

    def connect(self, factory) -> Deferred:
        """
        Connect to the current endpoint, else to each of the others in
        turn; fail with L{CannotConnect} naming every one and its reason
        if none answers.
        """
        return Deferred.fromCoroutine(self._connect(factory))

    async def _connect(self, factory):
        reasons = []
        for step in range(len(self._endpoints)):
            index = (self.current + step) % len(self._endpoints)
            try:
                protocol = await self._endpoints[index].connect(factory)
            except Exception as e:
                reasons.append(f"{self._names[index]}: {Failure(e).getErrorMessage()}")
                continue
            self.current = index
            return protocol
        raise CannotConnect("no event server answered: " + "; ".join(reasons))
