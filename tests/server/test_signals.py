"""
The server as a daemon, and how it answers signals: real twistd processes.
"""

import os
import signal
import tempfile
from pathlib import Path

from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import TestCase

from tests.servers import (
    STOP_SECONDS,
    TWISTD,
    Collector,
    connected,
    eventually,
    run_server,
    within,
)


class StopSignalTests(TestCase):
    timeout = 60

    async def test_sigterm_stops_gracefully_with_status_zero(self):
        server = await run_server(self, "-p", "0")
        self.assertEqual(await server.stop(), 0)
        self.assertIn("received SIGTERM: stopping", server.output)
        self.assertIn("Event Server stopped.", server.output)

    async def test_sigint_stops_gracefully_with_status_zero(self):
        server = await run_server(self, "-p", "0")
        os.kill(server.transport.pid, signal.SIGINT)
        self.assertEqual(await within(server.when_ended(), STOP_SECONDS), 0)
        self.assertIn("received SIGINT: stopping", server.output)


class DaemonTests(TestCase):
    timeout = 60

    async def setUp(self):
        self.folder = Path(tempfile.mkdtemp(prefix="eventd-daemon-"))
        self.pidfile = self.folder / "eventd.pid"
        self.logfile = self.folder / "eventd.log"
        out, err, code = await within(
            getProcessOutputAndValue(
                TWISTD,
                ["--pidfile", str(self.pidfile), "--logfile", str(self.logfile),
                 "eventd", "-p", "0"],
                env=os.environ,
                path=str(self.folder),
            ),
            30,
        )
        self.assertEqual(code, 0, out + err)
        self.addCleanup(self.stop)
        await eventually(self.started)
        self.pid = int(self.pidfile.read_text())

    def started(self) -> bool:
        """the daemon logged its banner"""
        return self.logfile.exists() and "Event Server started." in self.logfile.read_text()

    def running(self) -> bool:
        """the daemon's process exists"""
        return Path(f"/proc/{self.pid}").exists()

    async def stop(self):
        if self.pidfile.exists():
            os.kill(int(self.pidfile.read_text()), signal.SIGTERM)
        await eventually(lambda: not self.pidfile.exists(), STOP_SECONDS)

    async def test_daemon_serves_and_stops_on_sigterm(self):
        uri = self.logfile.read_text().split("URI= ")[1].split()[0]
        client = await connected(self, uri)
        got = Collector(1)
        await client.subscribe("daemon", got)
        await client.publish("daemon", "up")
        self.assertEqual(await within(got.done, 10), ["up"])
        await client.close()
        os.kill(self.pid, signal.SIGTERM)
        await eventually(lambda: not self.running(), STOP_SECONDS)
        self.assertFalse(self.pidfile.exists())
        self.assertIn("Server Shut Down.", self.logfile.read_text())

    async def test_sighup_reopens_the_log_file_for_logrotate(self):
        rotated = self.folder / "eventd.log.1"
        self.logfile.rename(rotated)
        os.kill(self.pid, signal.SIGHUP)
        await eventually(lambda: self.logfile.exists() and "reopened" in self.logfile.read_text())
        self.assertIn("received SIGHUP: reopened 1 log files", self.logfile.read_text())
        self.assertIn("Event Server started.", rotated.read_text())


class BadCommandLineTests(TestCase):
    timeout = 60

    async def assertOneLineError(self, *argv: str, words: str):
        out, err, code = await within(
            getProcessOutputAndValue(TWISTD, ["-n", "--pidfile=", *argv], env=os.environ, path="/"),
            30,
        )
        self.assertNotEqual(code, 0)
        self.assertEqual(out, b"")
        self.assertNotIn(b"Traceback", err)
        [line] = err.decode().strip().splitlines()
        self.assertIn(words, line)

    async def test_a_log_file_in_a_missing_directory(self):
        await self.assertOneLineError(
            "--logfile", "/nonexistent/eventd.log", "eventd", words="no such directory"
        )

    async def test_a_bad_listen_string(self):
        await self.assertOneLineError("eventd", "--listen", "bogus:1", words="--listen 'bogus:1'")

    async def test_a_missing_tls_key_file(self):
        await self.assertOneLineError(
            "eventd", "--listen", "ssl:0:privateKey=/nonexistent/key.pem",
            words="--listen 'ssl:0:privateKey=/nonexistent/key.pem': [Errno 2] No such file",
        )

    async def test_a_bad_policy(self):
        await self.assertOneLineError("eventd", "--when-full", "x", words="--when-full")
