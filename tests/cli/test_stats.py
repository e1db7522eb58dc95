"""
C{eventd stats} as users run it, against a real C{twistd -n eventd} server
with known traffic.
"""

import json

from twisted.trial.unittest import TestCase

from tests.cli.commands import run
from tests.servers import (
    COLUMNS,
    TOTAL_KEYS,
    WAIT,
    Collector,
    connected,
    run_server,
    within,
)


class CommandLineTests(TestCase):
    timeout = 90

    async def setUp(self):
        self.server = await run_server(self, "-p", "0")
        first = await connected(self, self.server.uri)
        second = await connected(self, self.server.uri)
        publisher = await connected(self, self.server.uri)
        got_first, got_second = Collector(4), Collector(4)
        await first.subscribe(["news", "sport", "other"], got_first)
        await second.subscribe("news", got_second)
        await second.subscribe_match("^sp", got_second)
        for message in range(3):
            await publisher.publish("news", message)
        await publisher.publish("sport", "final")
        await publisher.publish("weather", "nobody listens")
        await within(got_first.done, WAIT)
        await within(got_second.done, WAIT)

    async def test_json_gives_the_figures(self):
        command = await run(self, "stats", "--json", "--server", self.server.uri)
        self.assertEqual((command.exit_code, command.stderr), (0, b""), command)
        figures = json.loads(command.stdout)
        self.assertEqual(set(figures), TOTAL_KEYS)
        varying = {"uptime", "subscribers", "memory_bytes", "memory_peak_bytes", "longest_stall"}
        self.assertEqual(
            {key: figures[key] for key in TOTAL_KEYS - varying},
            {
                # Two subscribers, the publisher, and eventd stats itself.
                "connections": 4,
                "subscriptions": 5,
                "patterns": 1,
                "published": 5,
                "delivered": 8,
                "dropped": 0,
                "memory_budget_bytes": 1 << 30,
                "slow_consumers": 0,
                "refused": {},
                "closed": {},
                "security": {
                    "authentication": "none",
                    "client_certificates": False,
                    "anonymous": True,
                    "acl": "none",
                },
                "logins": {},
                "login_failures": 0,
            },
        )
        rows = figures["subscribers"]
        self.assertEqual([set(row) for row in rows], [set(COLUMNS)] * 2)
        self.assertEqual(
            sorted(
                (row["subscriptions"], row["delivered"], row["queue_depth"])
                for row in rows
            ),
            [(2, 4, 0), (3, 4, 0)],
        )
        self.assertTrue(all(row["peer"].startswith("127.0.0.1:") for row in rows), rows)

    async def test_the_table_shows_totals_and_a_row_per_subscriber(self):
        command = await run(self, "stats", "--server", self.server.uri)
        self.assertEqual((command.exit_code, command.stderr), (0, b""), command)
        lines = command.stdout.decode().splitlines()
        totals = dict(line.split(None, 1) for line in lines[: lines.index("")])
        self.assertEqual(
            {name: totals[name] for name in ("connections", "subscribers", "published")},
            {"connections": "4", "subscribers": "2", "published": "5"},
        )
        self.assertEqual(
            (totals["subscriptions"], totals["delivered"], totals["dropped"]),
            ("5", "8", "0"),
        )
        self.assertEqual((totals["refused"], totals["closed"]), ("none", "none"))
        self.assertEqual(totals["logins"], "none; 0 failed")
        self.assertEqual(
            totals["security"],
            "logins by none; client certificates not asked for; anonymous clients "
            "admitted; access list none",
        )
        self.assertRegex(totals["memory"], r"^\d+ bytes \(peak \d+, budget 1073741824\)$")
        self.assertRegex(totals["uptime"], r"^\d+:\d\d:\d\d$")
        header = lines.index("") + 1
        self.assertEqual(lines[header].split(), COLUMNS)
        rows = [line.split() for line in lines[header + 1 :]]
        self.assertEqual(len(rows), 2, lines)
        # Columns: peer, subscriptions, queue_depth, high_water, delivered,
        # dropped, queue_bytes, policy, user.  How many events ever waited
        # (high_water) depends on how they met the reactor's turns: 0 or 1
        # for these answered publishes.
        self.assertEqual(
            sorted(row[1:3] + row[4:] for row in rows),
            [["2", "0", "4", "0", "0", "block", "-"], ["3", "0", "4", "0", "0", "block", "-"]],
        )
        self.assertTrue({row[3] for row in rows} <= {"0", "1"}, rows)

    async def test_an_unreachable_server_is_one_line_and_status_1(self):
        await self.server.stop()
        command = await run(self, "stats", "--server", self.server.uri)
        self.assertEqual(command.exit_code, 1, command)
        [error] = command.stderr.decode().splitlines()
        expected = f"eventd: cannot reach the event server at {self.server.uri}: "
        self.assertTrue(error.startswith(expected), error)
        self.assertEqual(command.stdout, b"")
