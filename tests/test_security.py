"""
Who may connect and what they may do, for real: C{twistd -n eventd} with
--ident-file, --users, --acl, --client-ca, and every kind of client against
it over loopback sockets.  Every secret is made by the test.
"""

import json
import os
import signal

import trustme
from OpenSSL import SSL
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.protocols import amp, portforward
from twisted.trial.unittest import TestCase

from eventd.errors import LoginFailed
from eventd.server.users import scram_entry
from eventd.wire.commands import Subscribe
from tests.cli.commands import run, start
from tests.servers import (
    PASSPHRASE,
    TWISTD,
    WAIT,
    Collector,
    SecretFiles,
    TLSFiles,
    connected,
    eventually,
    raw_peer,
    round_trip,
    run_python,
    run_server,
    spawn,
    within,
)

ACL = """
[default]
publish = { allow = [".*"] }
subscribe = { allow = ["public\\\\..*"] }

[users.boss]
publish = { allow = [".*"] }
subscribe = { allow = [".*"] }
stats = true

[users.intern]
publish = { allow = ["public\\\\..*"] }
subscribe = { allow = ["public\\\\..*"] }
"""

USERS = {"boss": "the boss's password", "bob": "bob's password", "intern": "intern pw"}


class NothingBeforeLoginTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.secrets = SecretFiles(self)
        self.server = await run_server(self, "-p", "0", "--ident-file", self.secrets.ident)

    async def test_a_command_before_login_is_refused_and_the_connection_closed(self):
        peer = await raw_peer(self, self.server.uri)
        answered = peer.answered(b"1")
        box = Subscribe.makeArguments({"subjects": ["news"]}, None)
        peer.transport.write(amp.AmpBox({amp.COMMAND: b"subscribe", amp.ASK: b"1", **box}).serialize())
        answer = await within(answered, WAIT)
        self.assertEqual(answer[amp.ERROR_CODE], b"AUTH_REQUIRED")
        await within(peer.closed, WAIT)
        self.assertEqual(peer.goodbye(), "LOGIN_REQUIRED")

    async def test_a_client_without_the_passphrase_is_told_so(self):
        client = await connected(self, self.server.uri)
        error = None
        try:
            await within(client.publish("news", 1), WAIT)
        except Exception as e:
            error = e
        self.assertIn("admits only clients that log in", str(error))

    async def test_the_log_says_what_is_in_force(self):
        self.assertIn(
            "logins: the --ident passphrase; client certificates: not asked for; "
            "anonymous clients: refused; access list: none",
            self.server.output,
        )


class PassphraseTests(TestCase):
    """
    Pyro's -i done right: every client takes the passphrase, and refuses to
    go on with a wrong one.
    """

    timeout = 90

    async def setUp(self):
        self.secrets = SecretFiles(self)
        self.server = await run_server(self, "-p", "0", "--ident-file", self.secrets.ident)

    async def test_the_twisted_client_with_the_passphrase_publishes_and_subscribes(self):
        await round_trip(self, self.server.uri, ident=PASSPHRASE)

    async def test_the_twisted_client_with_a_wrong_passphrase_fails_to_connect(self):
        error = None
        try:
            await connected(self, self.server.uri, ident="wrong")
        except LoginFailed as e:
            error = e
        self.assertEqual(str(error), "wrong user name or password")
        await eventually(lambda: "failed to log in as 'ident'" in self.server.output)
        self.assertNotIn("wrong", self.server.output.split("failed to log in")[1].split("\n")[0])

    async def test_blocking_clients_and_the_starter_take_the_passphrase(self):
        code = f"""
import json, threading
from eventd.blocking import ConnectionDeniedError, EventServiceStarter, Publisher, Subscriber

seen = {{}}
for uri in ({self.server.uri!r}, None):
    if uri is None:  # a server of our own, with the same passphrase
        starter = EventServiceStarter()
        threading.Thread(target=starter.start, kwargs={{"port": 0, "ident": "own"}},
                         daemon=True).start()
        starter.waitUntilStarted(10)
        uri, ident = starter.uri, "own"
    else:
        ident = {PASSPHRASE!r}

    class Once(Subscriber):
        def event(self, event):
            seen.setdefault(uri, event.msg)
            self.abort()

    subscriber = Once(ident=ident, esURI=uri)
    subscriber.subscribe("news")
    Publisher(ident=ident, esURI=uri).publish("news", "hello")
    subscriber.listen()
    for Client in (Publisher, Subscriber):
        try:
            Client(ident="wrong", esURI=uri)
        except ConnectionDeniedError as e:
            seen.setdefault("refused", []).append(str(e))
print(json.dumps(seen))
"""
        child = await run_python(self, code)
        self.assertEqual(child.exit_code, 0, child.output)
        seen = json.loads(child.stdout.strip().splitlines()[-1])
        self.assertEqual(seen[self.server.uri], "hello")
        self.assertEqual(len(seen), 3, seen)  # the starter's server delivered too
        self.assertEqual(len(seen["refused"]), 4)
        for refusal in seen["refused"]:
            self.assertIn("refused the login: wrong user name or password", refusal)

    async def test_the_command_line_takes_the_passphrase_from_a_file(self):
        pub = await run(self, "pub", "news", "1", "--server", self.server.uri,
                        "--ident-file", self.secrets.ident)
        self.assertEqual((pub.exit_code, pub.stderr), (0, b""), pub)

    async def test_the_command_line_with_a_wrong_passphrase_is_one_line_and_status_1(self):
        wrong = self.secrets.write("wrong", "not it\n")
        for command in (["pub", "news", "1"], ["sub", "news", "--count", "1"], ["stats"]):
            result = await run(self, *command, "--server", self.server.uri, "--ident-file", wrong)
            self.assertEqual(result.exit_code, 1, result)
            self.assertEqual(
                result.stderr.decode().splitlines(),
                [f"eventd: the event server at {self.server.uri} refused the login: "
                 "wrong user name or password"],
            )

    async def test_no_secret_crosses_the_wire(self):
        """
        Every byte between a client and the server, both ways, through a
        recording proxy on loopback: the login is there, the passphrase is
        not.
        """
        recorded: list[bytes] = []
        proxy = await TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1").listen(
            _RecordingProxy(self.server.port, recorded)
        )
        self.addCleanup(proxy.stopListening)
        uri = f"tcp:127.0.0.1:{proxy.getHost().port}"
        await round_trip(self, uri, ident=PASSPHRASE)
        wire = b"".join(recorded)
        self.assertIn(b"login_final", wire)
        self.assertIn(b"round.trip", wire)
        self.assertNotIn(PASSPHRASE.encode(), wire)
        for part in PASSPHRASE.split():
            self.assertNotIn(part.encode(), wire)


class _RecordingProxy(portforward.ProxyFactory):
    """
    A port forward to the server that records what passes, both ways.
    """

    def __init__(self, port: int, recorded: list[bytes]) -> None:
        super().__init__("127.0.0.1", port)
        recorded_ = recorded

        class Client(portforward.ProxyClient):
            def dataReceived(self, data: bytes) -> None:
                recorded_.append(data)
                super().dataReceived(data)

        class ClientFactory(portforward.ProxyClientFactory):
            protocol = Client

        class Server(portforward.ProxyServer):
            clientProtocolFactory = ClientFactory

            def dataReceived(self, data: bytes) -> None:
                recorded_.append(data)
                super().dataReceived(data)

        self.protocol = Server


class UsersAndAccessListTests(TestCase):
    timeout = 90

    async def setUp(self):
        self.secrets = SecretFiles(self, USERS)
        self.acl = self.secrets.write("acl.toml", ACL)
        self.server = await run_server(
            self, "-p", "0", "--users", self.secrets.users, "--acl", self.acl
        )

    def login(self, user: str) -> dict:
        return {"user": user, "password": USERS[user]}

    async def test_a_wrong_password_is_refused_and_the_right_one_taken(self):
        with self.assertRaises(LoginFailed):
            await connected(self, self.server.uri, user="bob", password="guess")
        with self.assertRaises(LoginFailed):
            await connected(self, self.server.uri, user="nobody", password="guess")
        await connected(self, self.server.uri, **self.login("bob"))

    async def test_the_command_line_logs_in_as_a_user(self):
        stats = await run(self, "stats", "--json", "--server", self.server.uri,
                          "--user", "boss", "--password-file", self.secrets.password_files["boss"])
        self.assertEqual((stats.exit_code, stats.stderr), (0, b""), stats)
        figures = json.loads(stats.stdout)
        self.assertEqual(figures["logins"], {"scram": 1})
        self.assertEqual(figures["security"]["acl"], "2 users, a default section")

    async def test_a_match_all_subscriber_receives_only_what_it_may_read(self):
        bob = await connected(self, self.server.uri, **self.login("bob"))
        boss = await connected(self, self.server.uri, **self.login("boss"))
        got, everything = Collector(), Collector()
        await bob.subscribe_match(".*", got)
        await boss.subscribe_match(".*", everything)
        for subject in ("payroll.secret", "public.news", "publicity.secret", "public.end"):
            await boss.publish(subject, subject)
        await within(everything.expect(4), WAIT)
        await within(got.expect(2), WAIT)
        self.assertEqual(got.messages, ["public.news", "public.end"])

    async def test_publishing_on_a_forbidden_subject_is_refused_and_reaches_nobody(self):
        intern = await connected(self, self.server.uri, **self.login("intern"))
        boss = await connected(self, self.server.uri, **self.login("boss"))
        everything = Collector()
        await boss.subscribe_match(".*", everything)
        error = None
        try:
            await intern.publish(["public.a", "payroll.fake"], "forged")
        except Exception as e:
            error = e
        self.assertEqual(str(error), "user 'intern' may not publish on 'payroll.fake'")
        intern.emit("payroll.fake", "forged too")
        await intern.publish("public.after", "ok")
        await within(everything.expect(1), WAIT)
        self.assertEqual(everything.messages, ["ok"])
        figures = await boss.stats()
        self.assertEqual(figures["refused"]["PERMISSION_DENIED"], 2)

    async def test_stats_need_the_permission(self):
        bob = await connected(self, self.server.uri, **self.login("bob"))
        with self.assertRaises(Exception) as refused:
            await bob.stats()
        self.assertIn("user 'bob' may not read the server's figures", str(refused.exception))

    async def test_sighup_rereads_the_users_and_the_access_list_for_open_connections(self):
        bob = await connected(self, self.server.uri, **self.login("bob"))
        boss = await connected(self, self.server.uri, **self.login("boss"))
        got = Collector()
        await bob.subscribe_match("payroll\\..*", got)
        await boss.publish("payroll.before", "not for bob")
        with open(self.acl, "a") as acl:
            acl.write('\n[users.bob]\nsubscribe = { allow = ["payroll\\\\..*"] }\n')
        with open(self.secrets.users, "a") as users:
            users.write(scram_entry("carol", "carol's password") + "\n")
        os.kill(self.server.transport.pid, signal.SIGHUP)
        await eventually(lambda: "reread the access list: 3 users" in self.server.output)
        await boss.publish("payroll.after", "for bob now")
        await within(got.expect(1), WAIT)
        self.assertEqual(got.messages, ["for bob now"])
        await connected(self, self.server.uri, user="carol", password="carol's password")

    async def test_a_broken_access_list_on_sighup_keeps_the_old_one(self):
        bob = await connected(self, self.server.uri, **self.login("bob"))
        with open(self.acl, "w") as acl:
            acl.write("[default\n")
        os.kill(self.server.transport.pid, signal.SIGHUP)
        await eventually(lambda: "kept the access list read before" in self.server.output)
        with self.assertRaises(Exception):  # still the old list: no stats for bob
            await bob.stats()
        await round_trip(self, self.server.uri, **self.login("boss"))


class ExposureTests(TestCase):
    timeout = 60

    async def test_listening_beyond_loopback_without_credentials_refuses_to_start(self):
        server = spawn(self, [TWISTD, "-n", "--pidfile=", "eventd", "--listen", "tcp:0"])
        server.started.addErrback(lambda _: None)  # it never starts
        self.assertEqual(await within(server.when_ended(), WAIT), 1)
        self.assertEqual(
            server.stderr.strip().splitlines(),
            ["twistd eventd: --listen 'tcp:0' reaches beyond this host (0.0.0.0), and "
             "nobody has to log in: give --ident-file, --users or --client-ca, or "
             "--allow-anonymous to admit anybody who can reach the port"],
        )

    async def test_it_starts_with_credentials_or_when_told_to_admit_anybody(self):
        secrets = SecretFiles(self)
        for options in (["--ident-file", secrets.ident], ["--allow-anonymous"]):
            server = await run_server(self, "--listen", "tcp:0", *options)
            self.assertRegex(server.uri, r"^tcp:[\d.]+:\d+$")
            self.assertEqual(await server.stop(), 0)


class MutualTLSTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.files = TLSFiles(self)
        self.secrets = SecretFiles(self)
        clients = trustme.CA()
        self.client_ca = self.secrets.write("client-ca.pem", clients.cert_pem.bytes().decode())
        self.alice = self.secrets.write(
            "alice.pem",
            clients.issue_cert("alice@example.test", common_name="alice")
            .private_key_and_cert_chain_pem.bytes().decode(),
        )
        acl = self.secrets.write("acl.toml", '[users.alice]\nstats = true\n'
                                 'subscribe = { allow = [".*"] }\npublish = { allow = [".*"] }\n')
        self.server = await run_server(
            self, "--listen", self.files.listen, "--client-ca", self.client_ca,
            "--require-client-cert", "--acl", acl,
        )

    async def test_a_client_without_a_certificate_is_refused(self):
        """
        Under TLS 1.3 the client's handshake ends before the server judges
        its certificate: the refusal ends the first call.
        """
        client = await connected(self, self.server.uri, ca=self.files.ca)
        with self.assertRaises(SSL.Error) as refused:
            await within(client.stats(), WAIT)
        self.assertIn("certificate required", str(refused.exception))

    async def test_the_command_line_without_a_certificate_is_one_line_and_status_1(self):
        pub = await run(self, "pub", "x", "1", "--server", self.server.uri, "--ca", self.files.ca)
        self.assertEqual(pub.exit_code, 1, pub)
        self.assertEqual(
            pub.stderr.decode().splitlines()[-1],
            f"eventd: the TLS connection to the event server at {self.server.uri} failed: "
            "tlsv13 alert certificate required",
        )

    async def test_a_certificate_names_its_user_for_the_access_list(self):
        uri = f"{self.server.uri}:certificate={self.alice}"
        client = await connected(self, uri, ca=self.files.ca)
        await client.subscribe("tls.news", lambda event: None)
        figures = await client.stats()  # only alice may
        self.assertEqual(figures["logins"], {"certificate": 1})
        self.assertEqual([row["user"] for row in figures["subscribers"]], ["alice"])

    async def test_the_command_line_with_a_certificate_exits_cleanly(self):
        sub = start(self, "sub", "tls.news", "--count", "1", "--ca", self.files.ca,
                    "--server", f"{self.server.uri}:certificate={self.alice}")
        publisher = await connected(self, f"{self.server.uri}:certificate={self.alice}",
                                    ca=self.files.ca)
        while not sub.ended:
            await publisher.publish("tls.news", "hi")
            await within(publisher.stats(), WAIT)
        await within(sub.when_ended(), WAIT)
        self.assertEqual((sub.exit_code, sub.stderr), (0, b""), sub)
