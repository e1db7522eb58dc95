"""
Logging in to a server that admits only known clients, over in-memory
connections with a controlled clock: the gate before login, SCRAM-SHA-256
through L{Login} and L{LoginFinal} (scramp's client makes the messages),
the throttle on failures, the login timeout, and the access list's say over
what an admitted user may publish, subscribe to and read.
"""

import os
import tempfile
from typing import Optional

from scramp import ScramClient
from twisted.internet.address import IPv4Address
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.logger import capturedLogs, formatEvent
from twisted.protocols import amp

from eventd.server.accounts import Accounts
from eventd.server.broker import SubscriptionManager
from eventd.server.config import ServerConfig
from eventd.server.protocol import EventServerFactory
from eventd.server.security import Security
from eventd.server.throttle import spacing
from eventd.server.users import scram_entry
from eventd.wire.commands import (
    SCRAM_SHA_256,
    Login,
    LoginFinal,
    Publish,
    Stats,
    Subscribe,
    SubscribeMatch,
    emit_box,
)
from eventd.wire.records import encode_emitted
from tests.server.peers import Peer, ServerTestCase

IDENT = "open sesame, 42"
"""The server's passphrase in these tests."""

WRONG = "close sesame, 43"
"""A passphrase that is not it."""

AUDITOR_PASSWORD = "audit every ledger"


def fields(message: str) -> dict[str, str]:
    """The attributes of a SCRAM message: C{r=..,s=..,i=..} as a dict."""
    return dict(part.split("=", 1) for part in message.split(","))


class LoginTestCase(ServerTestCase):
    """
    A server in memory that admits only clients that log in: the holder of
    the passphrase L{IDENT} (user C{ident}), and the users of
    L{users_lines}, if any; with the access list L{acl}, if any.
    """

    users_lines: tuple[str, ...] = ()
    acl: Optional[str] = None

    def setUp(self):
        self.clock = Clock()
        self.now = 0.0
        self.broker = SubscriptionManager(self.config.limits)
        self.folder = tempfile.mkdtemp()
        self.addCleanup(_remove_tree, self.folder)
        users_path = acl_path = None
        if self.users_lines:
            users_path = self.write("users", "\n".join(self.users_lines) + "\n")
        if self.acl is not None:
            acl_path = self.acl_path = self.write("acl.toml", self.acl)
        self.security = Security(Accounts(ident=IDENT, users_path=users_path), acl_path)
        self.factory = EventServerFactory(
            self.broker, self.config, self.clock, timer=lambda: self.now, security=self.security
        )
        self.ports = iter(range(41_001, 50_000))

    def write(self, name: str, text: str) -> str:
        path = os.path.join(self.folder, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def peer(self, transport: Optional[StringTransport] = None) -> Peer:
        """A client from 127.0.0.1, each on its own port."""
        if transport is None:
            address = IPv4Address("TCP", "127.0.0.1", next(self.ports))
            transport = StringTransport(peerAddress=address)
        return Peer(self.factory, transport=transport)

    def begin(self, peer: Peer, user: str = "ident", password: str = IDENT):
        """
        Send a login; return scramp's client and the server's answer box.
        """
        client = ScramClient([SCRAM_SHA_256], user, password)
        answer = peer.answer(
            peer.send(Login, mechanism=SCRAM_SHA_256, message=client.get_client_first())
        )
        return client, answer

    def attempt(self, peer: Peer, user: str = "ident", password: str = IDENT):
        """
        A whole login up to the final message, whose answer is not read:
        return scramp's client and the final message's tag.
        """
        client, answer = self.begin(peer, user, password)
        client.set_server_first(answer[b"message"].decode())
        return client, peer.send(LoginFinal, message=client.get_client_final())

    def logged_in(self, user: str = "ident", password: str = IDENT) -> Peer:
        """A client that has logged in."""
        peer = self.peer()
        client, tag = self.attempt(peer, user, password)
        answer = peer.answer(tag)
        client.set_server_final(answer[b"message"].decode())
        return peer

    def assertClosedWith(self, peer: Peer, code: str, *words: str) -> None:
        """The server said Goodbye with C{code} and closed the connection."""
        said, reason = peer.goodbye()
        self.assertEqual(said, code)
        for word in words:
            self.assertIn(word, reason)
        self.assertTrue(peer.transport.disconnecting)


def _remove_tree(folder: str) -> None:
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))
    os.rmdir(folder)


class BeforeLoginTests(LoginTestCase):
    """
    Until it has logged in, a connection may send only the login's
    commands: anything else is refused with AUTH_REQUIRED, and the
    connection closed.
    """

    def refused_then_closed(self, send) -> None:
        peer = self.peer()
        tag = send(peer)
        self.assertError(peer.answer(tag), b"AUTH_REQUIRED", "log in")
        self.assertFalse(peer.transport.disconnecting)
        # The goodbye comes on the next turn, after the answer.
        self.clock.advance(0)
        self.assertClosedWith(peer, "LOGIN_REQUIRED", "before the client logged in")
        self.assertEqual(self.factory.counters.closed["LOGIN_REQUIRED"], 1)

    def test_a_publish_is_refused_and_the_connection_closed(self):
        self.refused_then_closed(lambda peer: self.publish(peer, "news"))

    def test_a_subscribe_is_refused_and_the_connection_closed(self):
        self.refused_then_closed(lambda peer: peer.send(Subscribe, subjects=["news"]))

    def test_a_pattern_subscribe_is_refused_and_the_connection_closed(self):
        self.refused_then_closed(lambda peer: peer.send(SubscribeMatch, patterns=["^n"]))

    def test_stats_are_refused_and_the_connection_closed(self):
        self.refused_then_closed(lambda peer: peer.send(Stats))

    def test_a_refused_subscribe_subscribes_nothing(self):
        """Nothing is delivered on a subscription refused before login."""
        sneaky, publisher = self.peer(), self.logged_in()
        sneaky.send(Subscribe, subjects=["news"])
        self.publish(publisher, "news")
        self.clock.advance(0)
        self.assertEqual(sneaky.events(), [])

    def test_an_emit_is_refused_counted_and_closes(self):
        """
        A one-way Emit has nobody to answer: it is counted as refused, and
        the connection is closed all the same; nothing is published.
        """
        subscriber, sneaky = self.logged_in(), self.peer()
        subscriber.send(Subscribe, subjects=["news"])
        subscriber.received()
        sneaky.protocol.dataReceived(emit_box([encode_emitted(["news"], "json", b"1")]))
        self.assertEqual(self.factory.counters.refused["AUTH_REQUIRED"], 1)
        self.assertEqual(sneaky.received(), [])  # no answer to a one-way box
        self.clock.advance(0)
        self.assertClosedWith(sneaky, "LOGIN_REQUIRED", "emit")
        self.assertEqual(subscriber.events(), [])
        self.assertEqual(self.factory.stats().published, 0)

    def test_a_login_needs_no_login(self):
        """The login's first command is answered, and nothing is closed."""
        peer = self.peer()
        _, answer = self.begin(peer)
        self.assertIn(b"message", answer)
        self.clock.advance(0)
        self.assertEqual(peer.received(), [])
        self.assertFalse(peer.transport.disconnecting)


class RightPassphraseTests(LoginTestCase):
    def test_the_passphrase_logs_in_as_ident(self):
        """
        Both messages are answered, the server's final one proves to scramp's
        client that the server knows the passphrase, and the user is ident.
        """
        peer = self.peer()
        client, first = self.begin(peer)
        self.assertEqual(fields(first[b"message"].decode())["i"], "4096")
        client.set_server_first(first[b"message"].decode())
        answer = peer.answer(peer.send(LoginFinal, message=client.get_client_final()))
        self.assertEqual(answer[b"user"], b"ident")
        client.set_server_final(answer[b"message"].decode())  # raises if it does not verify
        self.assertEqual(self.factory.counters.logins["scram"], 1)
        self.assertEqual(self.factory.counters.login_failures, 0)
        self.assertEqual(peer.protocol.admission.principal.user, "ident")
        self.assertEqual(peer.protocol.queue.user, "ident")

    def test_commands_work_once_logged_in(self):
        subscriber, publisher = self.logged_in(), self.logged_in()
        subscribed = subscriber.answer(subscriber.send(Subscribe, subjects=["news"]))
        self.assertNotIn(amp.ERROR, subscribed)
        answer = publisher.answer(self.publish(publisher, "news", b'"hi"'))
        self.assertIn(b"time", answer)
        [event] = subscriber.events()
        self.assertEqual((event.subject, event.payload), ("news", b'"hi"'))
        self.assertEqual(self.factory.counters.logins["scram"], 2)

    def test_a_host_that_never_failed_is_never_slowed(self):
        """Many logins at once from one host: each is answered at once."""
        peers = [self.peer() for _ in range(10)]
        exchanges = [(peer,) + self.attempt(peer) for peer in peers]
        for peer, client, tag in exchanges:
            client.set_server_final(peer.answer(tag)[b"message"].decode())
        self.assertEqual(self.factory.counters.logins["scram"], 10)
        self.assertEqual(len(self.factory.throttle), 0)

    def test_a_logged_in_connection_has_no_login_timeout(self):
        peer = self.logged_in()
        self.factory.start_watching()
        self.addCleanup(self.factory.stop_watching)
        self.clock.pump([1.0] * 15)
        self.assertFalse(peer.transport.disconnecting)


class UsersFileTests(LoginTestCase):
    users_lines = (scram_entry("auditor", AUDITOR_PASSWORD),)

    def test_a_named_user_of_the_users_file_logs_in(self):
        peer = self.peer()
        client, tag = self.attempt(peer, "auditor", AUDITOR_PASSWORD)
        answer = peer.answer(tag)
        client.set_server_final(answer[b"message"].decode())
        self.assertEqual(answer[b"user"], b"auditor")

    def test_the_passphrase_does_not_log_in_a_named_user(self):
        peer = self.peer()
        _, tag = self.attempt(peer, "auditor", IDENT)
        self.clock.advance(0)
        self.assertError(peer.answer(tag), b"AUTH_FAILED")


class WrongPassphraseTests(LoginTestCase):
    def step(self) -> bool:
        """
        Move the clock to the next call it has due, if any, and run it.
        """
        calls = self.clock.getDelayedCalls()
        if not calls:
            return False
        self.clock.advance(min(call.getTime() for call in calls) - self.clock.seconds())
        return True

    def failure_times(self) -> list[float]:
        """
        Run the clock until nothing is due; the times at which logins failed.
        """
        times = [self.clock.seconds()] * self.factory.counters.login_failures
        for _ in range(1_000):  # not for ever, if something keeps calling
            if not self.step():
                break
            failures = self.factory.counters.login_failures
            times += [self.clock.seconds()] * (failures - len(times))
        return times

    def test_a_first_wrong_passphrase_is_refused_at_once(self):
        """A host that never failed has its login checked, and refused, at once."""
        peer = self.peer()
        _, tag = self.attempt(peer, password=WRONG)
        self.clock.advance(0)
        self.assertError(peer.answer(tag), b"AUTH_FAILED", "wrong user name or password")
        self.assertEqual(self.factory.counters.login_failures, 1)
        self.assertEqual(self.factory.counters.logins["scram"], 0)
        self.assertIsNone(peer.protocol.admission.principal)
        self.assertFalse(peer.transport.disconnecting)
        # Not logged in: other commands are still refused.
        self.assertError(
            peer.answer(peer.send(Subscribe, subjects=["x"])), b"AUTH_REQUIRED"
        )

    def assertRefusedAfter(self, peer, tag, seconds, failures_before):
        """
        The login C{tag} is neither checked nor answered until C{seconds}
        have passed, and then refused.
        """
        self.clock.advance(seconds - 0.05)
        self.assertEqual(peer.received(), [])
        self.assertEqual(self.factory.counters.login_failures, failures_before)
        self.clock.advance(0.05)
        self.assertError(peer.answer(tag), b"AUTH_FAILED")

    def test_the_next_login_from_the_host_waits_a_quarter_second(self):
        """It is not even checked before: its failure is counted only then."""
        peer = self.peer()
        _, tag = self.attempt(peer, password=WRONG)
        self.assertError(peer.answer(tag), b"AUTH_FAILED")
        _, tag = self.attempt(peer, password=WRONG)
        self.assertRefusedAfter(peer, tag, 0.25, failures_before=1)
        self.assertEqual(self.factory.counters.login_failures, 2)
        self.assertFalse(peer.transport.disconnecting)

    def test_the_right_passphrase_waits_its_turn_too(self):
        """
        After two failures, the next login waits half a second, right or
        wrong: how long the answer takes tells nothing.
        """
        first, second = self.peer(), self.peer()
        _, tag = self.attempt(first, password=WRONG)
        first.answer(tag)
        _, tag = self.attempt(first, password=WRONG)
        self.clock.advance(0.25)
        first.answer(tag)
        client, tag = self.attempt(second)
        self.clock.advance(0.45)
        self.assertEqual(second.received(), [])
        self.assertIsNone(second.protocol.admission.principal)
        self.clock.advance(0.05)
        answer = second.answer(tag)
        client.set_server_final(answer[b"message"].decode())
        self.assertEqual(answer[b"user"], b"ident")
        self.assertEqual(second.protocol.admission.principal.user, "ident")

    def test_the_host_is_slowed_on_its_other_connections_too(self):
        first, second = self.peer(), self.peer()
        _, tag = self.attempt(first, password=WRONG)
        self.assertError(first.answer(tag), b"AUTH_FAILED")
        _, tag = self.attempt(second, password=WRONG)
        self.assertRefusedAfter(second, tag, 0.25, failures_before=1)

    def test_another_host_is_not_slowed(self):
        for _ in range(3):
            self.attempt(self.peer(), password=WRONG)
        self.assertEqual(self.factory.counters.login_failures, 1)
        address = IPv4Address("TCP", "10.0.0.2", 41_000)
        other = self.peer(StringTransport(peerAddress=address))
        client, tag = self.attempt(other)
        answer = other.answer(tag)  # at once
        client.set_server_final(answer[b"message"].decode())
        self.assertEqual(other.protocol.admission.principal.user, "ident")
        other = self.peer(StringTransport(peerAddress=address))
        _, tag = self.attempt(other, password=WRONG)
        self.assertError(other.answer(tag), b"AUTH_FAILED")  # at once too
        self.assertEqual(self.factory.counters.login_failures, 2)

    def test_the_third_failure_closes_the_connection(self):
        peer = self.peer()
        _, tag = self.attempt(peer, password=WRONG)
        self.assertError(peer.answer(tag), b"AUTH_FAILED")
        _, tag = self.attempt(peer, password=WRONG)
        self.clock.advance(0.25)
        self.assertError(peer.answer(tag), b"AUTH_FAILED")
        _, tag = self.attempt(peer, password=WRONG)
        self.clock.advance(0.45)
        self.assertEqual(peer.received(), [])
        self.assertFalse(peer.transport.disconnecting)
        self.clock.advance(0.05)
        # The refusal, then the goodbye.
        refusal, goodbye = peer.received()
        self.assertEqual(
            (refusal[amp.ERROR], refusal[amp.ERROR_CODE]), (tag, b"AUTH_FAILED")
        )
        self.assertEqual(goodbye[amp.COMMAND], b"goodbye")
        self.assertEqual(goodbye[b"code"], b"LOGIN_FAILED")
        self.assertIn(b"3 failed logins", goodbye[b"reason"])
        self.assertTrue(peer.transport.disconnecting)
        self.assertEqual(self.factory.counters.login_failures, 3)
        self.assertEqual(self.factory.counters.closed["LOGIN_FAILED"], 1)

    def test_two_failures_do_not_close_the_connection(self):
        peer = self.peer()
        for _ in range(2):
            _, tag = self.attempt(peer, password=WRONG)
            self.clock.advance(1)
            self.assertError(peer.answer(tag), b"AUTH_FAILED")
        self.clock.advance(10)
        self.assertEqual(peer.received(), [])
        self.assertFalse(peer.transport.disconnecting)

    def test_a_host_that_has_failed_very_often_is_still_checked_late(self):
        """
        A host that has failed 2,000 times, each less than a minute after
        the last, still has its next login checked, after the longest
        spacing (8 s): the throttle's doubling must not overflow.
        """
        for _ in range(2_000):
            self.factory.throttle.failed("127.0.0.1")
        peer = self.peer()
        _, tag = self.attempt(peer, password=WRONG)
        self.assertEqual(peer.received(), [])
        self.clock.advance(7.9)
        self.assertEqual(peer.received(), [])
        self.assertEqual(self.factory.counters.login_failures, 0)
        self.clock.advance(0.1)
        self.assertError(peer.answer(tag), b"AUTH_FAILED")

    def test_the_log_names_the_peer_and_user_never_the_password(self):
        peer = self.peer()
        with capturedLogs() as events:
            _, tag = self.attempt(peer, password=WRONG)
            self.clock.advance(0)
            peer.answer(tag)
        lines = [formatEvent(event) for event in events]
        [line] = [line for line in lines if "failed to log in" in line]
        self.assertIn(peer.protocol.peer, line)
        self.assertIn("127.0.0.1:", line)
        self.assertIn("'ident'", line)
        for event in events:
            self.assertNotIn(WRONG, repr(event))
            self.assertNotIn(IDENT, repr(event))

    def test_a_success_logs_neither_password(self):
        with capturedLogs() as events:
            self.logged_in()
        lines = [formatEvent(event) for event in events]
        self.assertTrue([line for line in lines if "logged in as ident" in line], lines)
        for event in events:
            self.assertNotIn(IDENT, repr(event))

    def test_guesses_sent_at_once_get_no_more_than_the_attempts(self):
        """
        A client that sends its guesses without waiting for the answers
        (pipelined, as AMP allows) gets no more than ATTEMPTS of them
        checked on one connection: a right passphrase guessed after three
        wrong ones does not log in.
        """
        peer = self.peer()
        for _ in range(3):
            self.attempt(peer, password=WRONG)
        client = ScramClient([SCRAM_SHA_256], "ident", IDENT)
        tag = peer.send(Login, mechanism=SCRAM_SHA_256, message=client.get_client_first())
        [answer] = [
            box for box in peer.received() if tag in (box.get(amp.ANSWER), box.get(amp.ERROR))
        ]
        if amp.ANSWER in answer:  # not refused at once: the proof must not pass
            client.set_server_first(answer[b"message"].decode())
            peer.send(LoginFinal, message=client.get_client_final())
        self.clock.advance(10)
        self.assertIsNone(peer.protocol.admission.principal)
        self.assertEqual(self.factory.counters.logins["scram"], 0)

    def test_a_fourth_try_on_a_connection_is_refused_at_once_unchecked(self):
        """
        Once a connection has tried ATTEMPTS times, even with its checks
        still waiting, a further login and login_final are refused at once,
        and neither waits for a check nor is checked.
        """
        peer = self.peer()
        for _ in range(3):
            self.attempt(peer, password=WRONG)  # the first checked at once
        peer.received()
        waiting = len(self.clock.getDelayedCalls())
        client = ScramClient([SCRAM_SHA_256], "ident", IDENT)
        login = peer.send(Login, mechanism=SCRAM_SHA_256, message=client.get_client_first())
        final = peer.send(LoginFinal, message="c=biws,r=abc,p=AAAA")
        boxes = peer.received()
        for tag in (login, final):
            [box] = [box for box in boxes if box.get(amp.ERROR) == tag]
            self.assertEqual(box[amp.ERROR_CODE], b"AUTH_FAILED")
        [refusal] = [box for box in boxes if box.get(amp.ERROR) == login]
        self.assertIn(b"tried to log in 3 times", refusal[amp.ERROR_DESCRIPTION])
        self.assertEqual(len(self.clock.getDelayedCalls()), waiting)
        self.assertEqual(len(self.failure_times()), 3)
        self.assertEqual(self.factory.counters.login_failures, 3)
        self.assertClosedWith(peer, "LOGIN_FAILED", "3 failed logins")

    def test_guesses_sent_at_once_are_checked_ever_further_apart(self):
        """
        A guesser gains nothing by sending its guesses at once rather than
        each after the last one's refusal: the check after the host's n-th
        failure comes at least spacing(n) after the one before, as it
        would for a guesser that waited.  (Were the slots spaced by the
        failures the host had when the guesses came, a guesser with many
        connections would get 4 guesses a second instead of one per 8
        seconds.)
        """
        for _ in range(4):
            guesser = self.peer()
            for _ in range(3):
                self.attempt(guesser, password=WRONG)
        times = self.failure_times()
        self.assertEqual(len(times), 12)
        gaps = [later - earlier for earlier, later in zip(times, times[1:])]
        self.assertEqual(
            [gap >= spacing(failures) for failures, gap in enumerate(gaps, 1)],
            [True] * 11,
            f"checked at {times}",
        )

    def test_a_guesser_that_does_not_wait_for_refusals_is_slowed_too(self):
        """
        The throttle must slow the guessing, not only the refusals: a host
        that has just sent 12 wrong guesses (on 4 connections, three
        guesses each, sent without waiting for any answer) does not learn
        at once that its 13th guess, on a fresh connection, is right: that
        guess is checked only in its turn, after the 12 before it.
        Otherwise a guesser that takes "no answer yet" for "wrong" (and
        opens new connections) guesses as fast as it can.
        """
        for _ in range(4):
            guesser = self.peer()
            for _ in range(3):
                self.attempt(guesser, password=WRONG)
        self.assertEqual(self.factory.counters.login_failures, 1)  # the first, at once
        peer = self.peer()
        client, tag = self.attempt(peer, password=IDENT)
        self.assertEqual(
            [box for box in peer.received() if box.get(amp.ANSWER) == tag],
            [],
            "the right guess was answered at once",
        )
        twelfth = None  # when the last wrong guess was refused
        while peer.protocol.admission.principal is None:
            self.assertTrue(self.step(), "the right guess was never checked")
            if twelfth is None and self.factory.counters.login_failures == 12:
                twelfth = self.clock.seconds()
        self.assertEqual(self.factory.counters.login_failures, 12)
        self.assertIsNotNone(twelfth, "the right guess was checked before its turn")
        self.assertGreater(self.clock.seconds(), twelfth)
        answer = peer.answer(tag)
        client.set_server_final(answer[b"message"].decode())
        self.assertEqual(answer[b"user"], b"ident")


class UnknownUserTests(LoginTestCase):
    users_lines = (scram_entry("auditor", AUDITOR_PASSWORD),)

    def first_answer(self, user: str) -> dict[str, str]:
        _, answer = self.begin(self.peer(), user, "anything")
        return fields(answer[b"message"].decode())

    def test_the_first_answer_has_a_known_users_fields(self):
        """
        The server-first message for a user nobody knows has the fields of a
        known user's: nonce, salt, 4096 iterations.
        """
        known, unknown = self.first_answer("auditor"), self.first_answer("mallory")
        self.assertEqual(sorted(known), ["i", "r", "s"])
        self.assertEqual(sorted(unknown), sorted(known))
        self.assertEqual(unknown["i"], known["i"])
        self.assertEqual(unknown["i"], "4096")
        self.assertEqual(len(unknown["r"]), len(known["r"]))

    def test_an_unknown_users_salt_is_as_long_as_a_known_users(self):
        """
        The decoy's salt must be as long as a real one (scramp and
        scram_entry make 32 bytes), else its length tells which names
        exist.
        """
        unknown = self.first_answer("mallory")
        for user in ("auditor", "ident"):
            self.assertEqual(
                len(unknown["s"]), len(self.first_answer(user)["s"]), f"{user}'s salt"
            )

    def test_an_unknown_user_has_the_same_salt_each_time(self):
        _, first = self.begin(self.peer(), "mallory", "anything")
        _, again = self.begin(self.peer(), "mallory", "something else")
        _, other = self.begin(self.peer(), "trudy", "anything")
        salt = fields(first[b"message"].decode())["s"]
        self.assertEqual(fields(again[b"message"].decode())["s"], salt)
        self.assertNotEqual(fields(other[b"message"].decode())["s"], salt)

    def test_an_unknown_user_fails_at_the_proof_like_a_wrong_password(self):
        """
        Refused at once from a host that never failed, like a wrong
        password, and counted like one: the host's next login waits.
        """
        peer = self.peer()
        _, tag = self.attempt(peer, "mallory", IDENT)
        self.clock.advance(0)
        self.assertError(peer.answer(tag), b"AUTH_FAILED", "wrong user name or password")
        self.assertEqual(self.factory.counters.login_failures, 1)
        self.assertIsNone(peer.protocol.admission.principal)
        _, tag = self.attempt(peer, "auditor", AUDITOR_PASSWORD)
        self.clock.advance(0.2)
        self.assertEqual(peer.received(), [])
        self.clock.advance(0.05)
        self.assertEqual(peer.answer(tag)[b"user"], b"auditor")


class LoginTimeoutTests(LoginTestCase):
    config = ServerConfig(login_timeout_seconds=4.0)

    def test_a_connection_that_does_not_log_in_is_closed(self):
        self.factory.start_watching()
        self.addCleanup(self.factory.stop_watching)
        peer = self.peer()
        self.clock.pump([0.5] * 7)  # 3.5 seconds
        self.assertEqual(peer.received(), [])
        self.clock.pump([0.5] * 2)  # 4.5: the sweep, every second, has seen it
        self.assertClosedWith(peer, "LOGIN_TIMEOUT", "--login-timeout 4")
        self.assertEqual(self.factory.counters.closed["LOGIN_TIMEOUT"], 1)

    def test_a_failed_login_does_not_stop_the_clock(self):
        self.factory.start_watching()
        self.addCleanup(self.factory.stop_watching)
        peer = self.peer()
        self.attempt(peer, password=WRONG)
        self.clock.pump([0.5] * 9)
        peer.received()  # the refusal
        self.assertTrue(peer.transport.disconnecting)
        self.assertEqual(self.factory.counters.closed["LOGIN_TIMEOUT"], 1)


class NoCredentialsTests(ServerTestCase):
    """
    A server without --ident or --users admits every connection at once.
    """

    def test_commands_work_without_login(self):
        subscriber, publisher = self.peer(), self.peer()
        subscriber.answer(subscriber.send(Subscribe, subjects=["x"]))
        self.assertIn(b"time", publisher.answer(self.publish(publisher, "x")))
        self.assertEqual(len(subscriber.events()), 1)
        self.assertIn(b"stats", subscriber.answer(subscriber.send(Stats)))

    def test_a_login_is_refused_saying_there_are_no_users(self):
        peer = self.peer()
        client = ScramClient([SCRAM_SHA_256], "ident", IDENT)
        tag = peer.send(Login, mechanism=SCRAM_SHA_256, message=client.get_client_first())
        self.assertError(peer.answer(tag), b"AUTH_FAILED", "no users")
        self.clock.advance(0)
        self.assertFalse(peer.transport.disconnecting)

    def test_no_login_timeout(self):
        self.factory.start_watching()
        self.addCleanup(self.factory.stop_watching)
        peer = self.peer()
        self.clock.pump([1.0] * 15)
        self.assertFalse(peer.transport.disconnecting)


class MisusedLoginTests(LoginTestCase):
    def test_logging_in_twice_is_refused(self):
        peer = self.logged_in()
        client = ScramClient([SCRAM_SHA_256], "ident", IDENT)
        tag = peer.send(Login, mechanism=SCRAM_SHA_256, message=client.get_client_first())
        self.assertError(peer.answer(tag), b"AUTH_FAILED", "logged in already")
        # Still logged in.
        self.assertEqual(peer.answer(peer.send(Subscribe, subjects=["x"])).get(amp.ERROR), None)

    def test_login_final_without_login_is_refused(self):
        peer = self.peer()
        tag = peer.send(LoginFinal, message="c=biws,r=abc,p=AAAA")
        self.assertError(peer.answer(tag), b"AUTH_FAILED", "without a login")

    def test_an_unknown_mechanism_is_refused_naming_scram(self):
        peer = self.peer()
        client = ScramClient([SCRAM_SHA_256], "ident", IDENT)
        tag = peer.send(Login, mechanism="PLAIN", message=client.get_client_first())
        self.assertError(peer.answer(tag), b"AUTH_FAILED", "PLAIN", SCRAM_SHA_256)

    def test_a_malformed_client_first_is_refused(self):
        peer = self.peer()
        tag = peer.send(Login, mechanism=SCRAM_SHA_256, message="hello, server")
        self.assertError(peer.answer(tag), b"AUTH_FAILED", "not a SCRAM client-first")
        self.assertFalse(peer.transport.disconnecting)

    def test_the_final_message_of_another_exchange_is_refused(self):
        """A proof made for one exchange's nonce does not end another's."""
        first, second = self.peer(), self.peer()
        client, answer = self.begin(first)
        client.set_server_first(answer[b"message"].decode())
        self.begin(second)
        tag = second.send(LoginFinal, message=client.get_client_final())
        self.clock.advance(0)
        self.assertError(second.answer(tag), b"AUTH_FAILED")
        self.assertIsNone(second.protocol.admission.principal)


ACL = r"""
[users.ident]
publish = { allow = ["public\\..*", "payroll\\..*"] }
subscribe = { allow = ["public\\..*"] }

[users.auditor]
subscribe = { allow = [".*"] }
"""

LIVE_ACL = r"""
[users.ident]
publish = { allow = ["public\\..*", "payroll\\..*"] }
subscribe = { allow = ["payroll\\..*"] }

[users.auditor]
subscribe = { allow = [".*"] }
"""


class AccessListTests(LoginTestCase):
    """
    The access list in force for logged-in users: ident may publish on
    public.* and payroll.*, and receive public.* only; the auditor may
    receive everything and publish nothing.
    """

    users_lines = (scram_entry("auditor", AUDITOR_PASSWORD),)
    acl = ACL

    def setUp(self):
        super().setUp()
        self.auditor = self.logged_in("auditor", AUDITOR_PASSWORD)
        self.auditor.answer(self.auditor.send(SubscribeMatch, patterns=[".*"]))
        self.watcher = self.logged_in()
        self.watcher.answer(self.watcher.send(SubscribeMatch, patterns=[".*"]))
        self.publisher = self.logged_in()

    def published(self, *subjects: str) -> None:
        for subject in subjects:
            answer = self.publisher.answer(self.publish(self.publisher, subject))
            self.assertIn(b"time", answer)
        self.clock.advance(0)

    def test_an_exact_subscribe_to_a_denied_subject_is_refused(self):
        box = self.watcher.answer(self.watcher.send(Subscribe, subjects=["payroll.x"]))
        self.assertError(box, b"PERMISSION_DENIED", "'ident'", "payroll.x")
        self.published("payroll.x")
        self.assertEqual(self.watcher.events(), [])

    def test_an_exact_subscribe_to_an_allowed_subject_is_taken(self):
        watcher = self.logged_in()
        self.assertNotIn(amp.ERROR, watcher.answer(watcher.send(Subscribe, subjects=["public.a"])))
        self.published("public.a")
        self.assertEqual([e.subject for e in watcher.events()], ["public.a"])

    def test_a_pattern_subscriber_receives_only_what_it_may(self):
        self.published("public.a", "payroll.x", "public.b")
        self.assertEqual([e.subject for e in self.watcher.events()], ["public.a", "public.b"])
        self.assertEqual(
            [e.subject for e in self.auditor.events()], ["public.a", "payroll.x", "public.b"]
        )

    def test_a_denied_publish_is_refused_and_reaches_nobody(self):
        box = self.publisher.answer(self.publish(self.publisher, "secret.plans"))
        self.assertError(box, b"PERMISSION_DENIED", "may not publish on", "secret.plans")
        self.clock.advance(0)
        self.assertEqual(self.auditor.events(), [])
        self.assertEqual(self.factory.stats().published, 0)

    def test_a_publish_with_one_denied_subject_publishes_none(self):
        tag = self.publisher.send(
            Publish, subjects=["public.a", "secret.plans"], codec="json", payload=b"1"
        )
        self.assertError(self.publisher.answer(tag), b"PERMISSION_DENIED", "secret.plans")
        self.clock.advance(0)
        self.assertEqual(self.auditor.events(), [])

    def test_a_denied_emit_is_counted_and_the_rest_go_on(self):
        records = [
            encode_emitted(["secret.plans"], "json", b"1"),
            encode_emitted(["public.a"], "json", b"2"),
        ]
        self.publisher.protocol.dataReceived(emit_box(records))
        self.clock.advance(0)
        self.assertEqual([e.subject for e in self.auditor.events()], ["public.a"])
        self.assertEqual(self.factory.counters.refused["PERMISSION_DENIED"], 1)
        self.assertFalse(self.publisher.transport.disconnecting)

    def test_stats_need_the_permission(self):
        box = self.publisher.answer(self.publisher.send(Stats))
        self.assertError(box, b"PERMISSION_DENIED", "figures")

    def test_stats_with_the_permission(self):
        self.write("acl.toml", ACL + "stats = true\n")
        self.factory.reload()
        box = self.auditor.answer(self.auditor.send(Stats))
        self.assertIn(b"stats", box)

    def test_a_new_access_list_applies_to_open_connections(self):
        """
        After the file is replaced and reread, the pattern subscriber
        receives what the new list lets it, and no longer what it took
        away, although the broker had worked out both subjects' receivers.
        """
        self.published("public.a", "payroll.x")
        self.assertEqual([e.subject for e in self.watcher.events()], ["public.a"])
        self.write("acl.toml", LIVE_ACL)
        self.factory.reload()
        self.published("public.a", "payroll.x")
        self.assertEqual([e.subject for e in self.watcher.events()], ["payroll.x"])
        self.assertEqual(
            [e.subject for e in self.auditor.events()],
            ["public.a", "payroll.x", "public.a", "payroll.x"],
        )

    def test_a_new_access_list_applies_to_exact_subscribers_too(self):
        watcher = self.logged_in()
        watcher.answer(watcher.send(Subscribe, subjects=["public.a"]))
        self.write("acl.toml", LIVE_ACL)
        self.factory.reload()
        self.published("public.a")
        self.assertEqual(watcher.events(), [])

    def test_a_broken_access_list_keeps_the_one_in_force(self):
        self.write("acl.toml", "[users.ident\n")
        with capturedLogs() as events:
            self.factory.reload()
        self.assertTrue(
            [e for e in events if "kept the access list" in formatEvent(e)],
            [formatEvent(e) for e in events],
        )
        self.published("public.a", "payroll.x")
        self.assertEqual([e.subject for e in self.watcher.events()], ["public.a"])
