"""
Pyro 3's C{Publisher}, for plain blocking programs.
"""

from typing import Any, Optional

from eventd.blocking.connection import BlockingConnection
from eventd.client.event_client import Names


class Publisher:
    """
    Publishes events; Pyro 3's C{Pyro.EventService.Clients.Publisher}.

    The arguments are those of L{BlockingConnection}.
    """

    def __init__(
        self,
        ident: Optional[str] = None,
        esURI: Optional[str] = None,
        codec: str = "json",
        *,
        user: Optional[str] = None,
        password: Optional[str] = None,
    ) -> None:
        self._es_connection = BlockingConnection(ident, esURI, codec, user, password)

    def publish(self, subjects: Names, msg: Any) -> float:
        """
        Publish C{msg} on one subject or a sequence of subjects.  Returns the
        server's timestamp of the events once every subscriber's queue took
        them (in block mode that waits for room, as Pyro's did).

        @raise TypeError: if the codec cannot encode C{msg}.
        """
        return self._es_connection.call(self._es_connection.client.publish, subjects, msg)

    def close(self) -> None:
        """
        Disconnect.
        """
        self._es_connection.close()
