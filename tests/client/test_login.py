"""
L{eventd.client.login}: which credentials a client's arguments give, and
the SCRAM-SHA-256 login over an in-memory connection, against the real
server and against an impostor that cannot prove it knows the password.
"""

from base64 import b64encode

from scramp import ScramMechanism
from twisted.internet.defer import Deferred
from twisted.internet.task import Clock
from twisted.protocols import amp
from twisted.test import iosim
from twisted.trial.unittest import SynchronousTestCase

from eventd.client.connection import ClientProtocol
from eventd.client.login import Credentials, log_in
from eventd.errors import ConnectionDeniedError, LoginFailed
from eventd.server.accounts import Accounts
from eventd.server.broker import SubscriptionManager
from eventd.server.config import ServerConfig
from eventd.server.protocol import EventServerFactory
from eventd.server.security import Security
from eventd.wire.commands import SCRAM_SHA_256, Login, LoginFinal, Subscribe

IDENT = "the shared passphrase"


class ChosenTests(SynchronousTestCase):
    """What L{Credentials.chosen} makes of a client's arguments."""

    def test_nothing_gives_no_credentials(self):
        self.assertIsNone(Credentials.chosen())

    def test_ident_logs_in_as_user_ident(self):
        self.assertEqual(Credentials.chosen(ident="s3cret"), Credentials("ident", "s3cret"))

    def test_user_and_password(self):
        credentials = Credentials.chosen(user="alice", password="pw")
        self.assertEqual((credentials.user, credentials.password), ("alice", "pw"))

    def test_ident_and_user_together_are_refused(self):
        self.assertRaises(ValueError, Credentials.chosen, ident="s", user="alice", password="p")
        self.assertRaises(ValueError, Credentials.chosen, ident="s", user="alice")
        self.assertRaises(ValueError, Credentials.chosen, ident="s", password="p")

    def test_a_user_without_a_password_is_refused(self):
        self.assertRaises(ValueError, Credentials.chosen, user="alice")

    def test_a_password_without_a_user_is_refused(self):
        self.assertRaises(ValueError, Credentials.chosen, password="p")

    def test_repr_never_shows_the_password(self):
        for credentials in (
            Credentials.chosen(ident="hunter2-ident"),
            Credentials.chosen(user="alice", password="hunter2-pw"),
        ):
            self.assertNotIn("hunter2", repr(credentials))
            self.assertNotIn("hunter2", str(credentials))
        self.assertIn("alice", repr(Credentials.chosen(user="alice", password="hunter2-pw")))


class Impostor(amp.AMP):
    """
    A server that answers a login in SCRAM's words without knowing the
    password: its scramp server holds another password's keys, it takes any
    proof, and signs with those other keys.
    """

    def __init__(self) -> None:
        super().__init__()
        mechanism = ScramMechanism(SCRAM_SHA_256)
        keys = mechanism.make_auth_info("not the password")
        self._scram = mechanism.make_server(lambda user: keys)
        self._server_key = keys[2]

    @Login.responder
    def login(self, mechanism: str, message: str) -> dict:
        self._scram.set_client_first(message)
        return {"message": self._scram.get_server_first()}

    @LoginFinal.responder
    def login_final(self, message: str) -> dict:
        # scramp's server would refuse the proof; an impostor says yes anyway,
        # with a signature of its own keys.
        fake = b64encode(self._server_key).decode()
        return {"message": f"v={fake}", "user": "ident"}


class LogInTestCase(SynchronousTestCase):
    def setUp(self):
        self.clock = Clock()
        self.client = ClientProtocol(lambda event: None, lambda protocol: None)

    def connect(self, server: amp.AMP) -> iosim.IOPump:
        return iosim.connect(
            server,
            iosim.makeFakeServer(server),
            self.client,
            iosim.makeFakeClient(self.client),
            clock=self.clock,
        )

    def log_in(self, pump: iosim.IOPump, credentials: Credentials) -> Deferred:
        answer = Deferred.fromCoroutine(log_in(self.client, credentials))
        pump.flush()
        return answer


class ImpostorTests(LogInTestCase):
    def test_a_server_that_cannot_sign_is_refused(self):
        pump = self.connect(Impostor())
        answer = self.log_in(pump, Credentials.chosen(ident=IDENT))
        failure = self.failureResultOf(answer, LoginFailed)
        self.assertIn("could not prove that it knows the password", str(failure.value))
        self.assertIs(ConnectionDeniedError, LoginFailed)

    def test_a_server_first_that_is_not_scrams_is_refused(self):
        class Garbler(Impostor):
            @Login.responder
            def login(self, mechanism: str, message: str) -> dict:
                return {"message": "welcome, friend"}

        answer = self.log_in(self.connect(Garbler()), Credentials.chosen(ident=IDENT))
        failure = self.failureResultOf(answer, LoginFailed)
        self.assertIn("not SCRAM's", str(failure.value))


class RealServerTests(LogInTestCase):
    def setUp(self):
        super().setUp()
        factory = EventServerFactory(
            SubscriptionManager(),
            ServerConfig(),
            self.clock,
            timer=lambda: 0.0,
            security=Security(Accounts(ident=IDENT)),
        )
        self.server = factory.buildProtocol(None)
        self.pump = self.connect(self.server)

    def test_the_passphrase_logs_in_as_ident(self):
        answer = self.log_in(self.pump, Credentials.chosen(ident=IDENT))
        self.assertEqual(self.successResultOf(answer), "ident")
        subscribed = self.client.call(Subscribe, subjects=["x"])
        self.pump.flush()
        self.assertEqual(self.successResultOf(subscribed), {})

    def test_a_wrong_passphrase_fails_with_login_failed(self):
        """
        At once the first time; the next try, from a host that has failed,
        is checked only after the throttle's quarter of a second.
        """
        answer = self.log_in(self.pump, Credentials.chosen(ident="not " + IDENT))
        failure = self.failureResultOf(answer, LoginFailed)
        self.assertIn("wrong user name or password", str(failure.value))
        answer = self.log_in(self.pump, Credentials.chosen(ident="not " + IDENT))
        self.assertNoResult(answer)  # the throttle holds the check
        self.clock.advance(0.2)
        self.pump.flush()
        self.assertNoResult(answer)
        self.clock.advance(0.05)
        self.pump.flush()
        failure = self.failureResultOf(answer, LoginFailed)
        self.assertIn("wrong user name or password", str(failure.value))
