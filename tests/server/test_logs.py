"""
Logs as JSON lines, through twistd's --logger.
"""

import json

from twisted.trial.unittest import TestCase

from tests.servers import START_SECONDS, TWISTD, ChildProcess, eventually, spawn


class JSONLogTests(TestCase):
    timeout = 60

    async def test_every_line_is_a_json_event_with_its_fields(self):
        process = spawn(
            self,
            [TWISTD, "-n", "--pidfile=", "--logger", "eventd.server.logs.json_stdout",
             "eventd", "-p", "0"],
            process=ChildProcess(),
        )
        await eventually(lambda: "Event Server started." in process.stdout, START_SECONDS)
        await process.stop()
        events = [json.loads(line) for line in process.stdout.splitlines()]
        [banner] = [e for e in events if e.get("log_format") == "URI= {uri}"]
        self.assertRegex(banner["uri"], r"^tcp:127\.0\.0\.1:\d+$")
        self.assertEqual(banner["log_namespace"], "eventd.server.service.EventService")
        [stop] = [e for e in events if e.get("signal") == "SIGTERM"]
        self.assertEqual(stop["log_namespace"], "eventd.server.signals.SignalHandling")
