"""
The protocol fuzzer, briefly: benchmarks/fuzz.py's boxes (random and
mutated AMP, from fixed seeds) sent to a real C{twistd -n eventd} over ten
connections, beside an innocent publisher and subscriber.  The server must
live through it, still answer, keep nothing of the connections once they
are gone, log no traceback and exit 0 when stopped; the innocent pair must
get every event, in order.

The long run is the script itself:
C{python benchmarks/fuzz.py --boxes 150000 --connections 50 --seed 1}.
"""

import importlib.util
import sys
from types import ModuleType

from twisted.internet import reactor
from twisted.trial.unittest import TestCase

from tests.servers import PROJECT, run_server

BOXES = 2000
CONNECTIONS = 10
FUZZ_SECONDS = 15


def load_fuzzer() -> ModuleType:
    """
    benchmarks/fuzz.py as a module: benchmarks/ is not a package, so it is
    loaded by its path (and registered, as its dataclasses need).
    """
    path = PROJECT / "benchmarks" / "fuzz.py"
    spec = importlib.util.spec_from_file_location("eventd_benchmarks_fuzz", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


fuzz = load_fuzzer()


class FuzzTests(TestCase):
    timeout = 60

    async def fuzz_with_seed(self, seed: int) -> None:
        """
        Fuzz a server started with the fuzzer's small limits, then check
        everything the script checks; a failure shows the script's figures,
        or the server's tracebacks.
        """
        server = await run_server(self, "-p", "0", *fuzz.SERVER_OPTIONS)
        result = await fuzz.fuzz(reactor, server.uri, BOXES, CONNECTIONS, seed, FUZZ_SECONDS)
        summary = "\n".join(fuzz.figures(result))

        self.assertEqual(result.boxes, BOXES, summary)
        self.assertIsNone(result.round_trip_error, summary)
        self.assertIsNotNone(result.stats, summary)
        self.assertTrue(result.pair.unharmed, summary)
        self.assertEqual(result.leftovers(), [], summary)
        self.assertEqual(await server.stop(), 0, server.output[-3000:])
        self.assertNotIn("Traceback", server.output, "\n".join(fuzz.tracebacks(server.output)))

    async def test_the_server_and_the_innocent_pair_live_through_seed_1(self):
        await self.fuzz_with_seed(1)

    async def test_the_server_and_the_innocent_pair_live_through_seed_2(self):
        await self.fuzz_with_seed(2)
