"""
Listening on endpoints the way a twistd service should.
"""

from typing import Optional, Sequence

from twisted.application.service import Service
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.internet.protocol import Factory
from twisted.logger import Logger
from twisted.python.failure import Failure


class ListeningService(Service):
    """
    A service that listens on endpoints when it starts: before twistd drops
    privileges (so a port below 1024 can be bound), and loudly: a port that
    cannot be bound at once (it is taken, say) raises, so twistd stops with
    the reason instead of running a server that listens nowhere.

    Subclasses say what happens once every endpoint listens, in
    L{listened}.

    @ivar ports: the listening ports, once listening.
    """

    log = Logger()
    purpose = "listen"
    """What listening is for, in the error logged when it fails."""

    def __init__(
        self, endpoints: Sequence[IStreamServerEndpoint], factory: Factory
    ) -> None:
        self.ports: list[IListeningPort] = []
        self._endpoints = list(endpoints)
        self._factory = factory
        self._listening: Optional[Deferred] = None
        self._failure: Optional[Failure] = None

    def privilegedStartService(self) -> None:
        super().privilegedStartService()
        self._listening = gatherResults(
            [endpoint.listen(self._factory) for endpoint in self._endpoints],
            consumeErrors=True,
        ).addCallbacks(self._listened, self._not_listening)
        if self._failure is not None:
            self._failure.raiseException()

    def startService(self) -> None:
        super().startService()
        if self._listening is None:
            self.privilegedStartService()

    def whenListening(self) -> Deferred:
        """
        A Deferred that fires with the ports once every endpoint listens
        (and L{listened} is done), or fails with the reason one could not.
        """
        told: Deferred = Deferred()

        def tell(result: object) -> object:
            if self._failure is None:
                told.callback(self.ports)
            else:
                told.errback(self._failure)
            return result

        self._listening.addBoth(tell)
        return told

    def listened(self, ports: list[IListeningPort]) -> Optional[Deferred]:
        """
        Every endpoint listens: override to announce it.  A Deferred
        returned delays L{whenListening}.
        """

    def stopListening(self) -> Deferred:
        """
        Close the listening ports.
        """
        ports, self.ports = self.ports, []
        self._listening = None
        return gatherResults([port.stopListening() for port in ports])

    def _listened(self, ports: list[IListeningPort]) -> Optional[Deferred]:
        self.ports = ports
        return self.listened(ports)

    def _not_listening(self, failure: Failure) -> None:
        self._failure = failure.value.subFailure
        self.log.error(
            "cannot {purpose}: {reason}",
            purpose=self.purpose,
            reason=self._failure.getErrorMessage(),
        )
