"""
The benchmark suite, smoke-tested: benchmarks/run.py --quick against eventd
alone (no Redis, NATS or Pyro needed), as a user runs it, and the figures it
writes are sane.  It proves the suite still runs, not how fast eventd is.
"""

import json
import os
import shutil
import sys
import tempfile

from twisted.trial.unittest import TestCase

from tests.servers import PROJECT, ChildProcess, spawn, within

RUN = str(PROJECT / "benchmarks" / "run.py")
RUN_SECONDS = 50


class QuickRunTests(TestCase):
    timeout = 60

    async def test_quick_fan_out_and_latency_against_eventd(self):
        scratch = tempfile.mkdtemp(prefix="eventd-bench-test-")
        self.addCleanup(shutil.rmtree, scratch, True)
        out = os.path.join(scratch, "quick.json")
        run = spawn(
            self,
            [sys.executable, RUN, "--quick", "--systems", "eventd", "--workloads", "W1,W4", "--json", out],
            process=ChildProcess(),
        )
        code = await within(run.when_ended(), RUN_SECONDS)
        self.assertEqual(code, 0, run.output[-3000:])
        with open(out) as results_file:
            document = json.load(results_file)

        self.assertEqual(list(document["systems"]), ["eventd"])
        results = {result["case"]: result for result in document["results"]}
        self.assertEqual(set(results), {"W1 S=1", "W1 S=10", "W1 S=100", "W4"})
        for result in results.values():
            self.assertIsNone(result["error"], result.get("details"))
            self.assertEqual(result["system"], "eventd")

        for case in ("W1 S=1", "W1 S=10", "W1 S=100"):
            metrics = results[case]["metrics"]
            subscribers = int(case.split("=")[1])
            self.assertGreater(metrics["deliveries_per_s"], 0, case)
            self.assertEqual(metrics["lost"], 0, case)
            self.assertEqual(metrics["delivered"], metrics["accepted"] * subscribers, case)
            self.assertGreater(metrics["accepted"], 0, case)

        latency = results["W4"]["metrics"]
        for key in ("p50_ms", "p99_ms", "max_ms"):
            self.assertIsNotNone(latency[key], key)
            self.assertGreater(latency[key], 0, key)
        self.assertLessEqual(latency["p50_ms"], latency["p99_ms"])
        self.assertLessEqual(latency["p99_ms"], latency["max_ms"])
        self.assertGreater(latency["delivered"], 0)

        self.assertIn("| W4", run.stdout)  # the table went to stdout
