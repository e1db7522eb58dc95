"""
EventServiceStarter: the server inside a plain program, in a thread, as in
Pyro's AllInOne example.  Each test is a child program (crochet's reactor
thread must not meet the tests' own reactor).
"""

import json
from textwrap import dedent

from twisted.trial.unittest import TestCase

from tests.servers import run_python


class StarterTests(TestCase):
    timeout = 60

    async def script(self, body: str):
        process = await run_python(self, dedent(body))
        self.assertEqual(process.exit_code, 0, process.output)
        return json.loads(process.stdout.strip().splitlines()[-1])

    async def test_two_starters_serve_side_by_side_and_shut_down(self):
        result = await self.script(
            """
            import json, socket, threading
            from eventd.blocking import Publisher, Subscriber
            from eventd.blocking import EventServiceStarter

            starters = [EventServiceStarter(), EventServiceStarter()]
            before = starters[0].waitUntilStarted(0.01)
            threads = [threading.Thread(target=s.start, kwargs={"port": 0}) for s in starters]
            for thread in threads:
                thread.start()
            started = [s.waitUntilStarted(10) for s in starters]

            class One(Subscriber):
                def event(self, event):
                    self.got = event.msg
                    self.abort()
            got = []
            for number, starter in enumerate(starters):
                subscriber = One(esURI=starter.uri)
                subscriber.subscribe("news")
                Publisher(esURI=starter.uri).publish("news", number)
                subscriber.listen()
                got.append(subscriber.got)
                subscriber.close()

            ports = [int(s.uri.rsplit(":", 1)[1]) for s in starters]
            for starter in starters:
                starter.shutdown()
            for thread in threads:
                thread.join(15)
            refused = []
            for port in ports:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=5).close()
                    refused.append(False)
                except ConnectionRefusedError:
                    refused.append(True)
            print(json.dumps([before, started, got, [t.is_alive() for t in threads],
                              refused, [s.uri.startswith("tcp:127.0.0.1:") for s in starters]]))
            """
        )
        self.assertEqual(
            result, [False, [True, True], [0, 1], [False, False], [True, True], [True, True]]
        )

    async def test_a_taken_port_makes_start_raise(self):
        result = await self.script(
            """
            import json, socket
            from eventd.blocking import EventServiceStarter

            taken = socket.socket()
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            starter = EventServiceStarter()
            try:
                starter.start(port=taken.getsockname()[1])
            except Exception as e:
                print(json.dumps([type(e).__name__, starter.waitUntilStarted(0.01)]))
            """
        )
        self.assertEqual(result, ["CannotListenError", False])
