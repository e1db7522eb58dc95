"""
The blocking clients, as plain scripts use them: each test runs a child
Python program against a server on loopback.  (crochet runs the reactor in a
thread of the child; the tests' own reactor must not be shared with it.)
"""

import json
from pathlib import Path
from textwrap import dedent

from twisted.internet.testing import EventLoggingObserver
from twisted.logger import globalLogPublisher
from twisted.trial.unittest import TestCase

from eventd.server import WhenFull
from tests.servers import run_python, serve_in_process, silent_port

PRELUDE = """
import json, sys, threading, time
from eventd.blocking import Publisher, Subscriber
from eventd.errors import NamingError
"""


class BlockingClientTestCase(TestCase):
    timeout = 120
    server_settings: dict = {}

    async def setUp(self):
        self.service = await serve_in_process(self, **self.server_settings)

    async def script(self, body: str, seconds: float = 60):
        """
        Run a script (the prelude, then C{body}) that finds the server
        through EVENTD_ENDPOINT; return its last stdout line, as JSON.
        """
        process = await run_python(
            self,
            PRELUDE + dedent(body),
            env={"EVENTD_ENDPOINT": self.service.uris[0]},
            seconds=seconds,
        )
        self.assertEqual(process.exit_code, 0, process.output)
        self.stderr = process.stderr
        return json.loads(process.stdout.strip().splitlines()[-1])


class PublishSubscribeTests(BlockingClientTestCase):
    async def test_a_subscriber_gets_what_a_publisher_publishes(self):
        result = await self.script(
            """
            class Quotes(Subscriber):
                def __init__(self):
                    Subscriber.__init__(self)
                    self.subscribe("StockQuotes")
                    self.subscribeMatch(r"^stock\\.")
                    self.got = []
                def event(self, event):
                    self.got.append([event.subject, event.msg, event.time > 0])
                    if len(self.got) == 2:
                        self.abort()
            quotes = Quotes()
            publisher = Publisher()
            publisher.publish("stockquotes", ("SUN", 22.44))
            publisher.publish(["stock.ibm"], 1)
            quotes.listen()
            print(json.dumps(quotes.got))
            """
        )
        self.assertEqual(result, [["stockquotes", ["SUN", 22.44], True], ["stock.ibm", 1, True]])

    async def test_events_that_arrive_before_listen_are_delivered_by_it(self):
        result = await self.script(
            """
            class Late(Subscriber):
                got = None
                def event(self, event):
                    self.got = event.msg
                    self.abort()
            late = Late()
            late.subscribe("early")
            Publisher().publish("early", "waiting")
            late.listen()
            print(json.dumps(late.got))
            """
        )
        self.assertEqual(result, "waiting")

    async def test_pyro_subscriber_thread_mixin_keeps_both_working(self):
        result = await self.script(
            """
            class TrafficCounter(Subscriber, threading.Thread):
                def __init__(self):
                    Subscriber.__init__(self)
                    threading.Thread.__init__(self, name="counter")
                    self.subscribe("cars")
                    self.count = 0
                def event(self, event):
                    self.count += 1
                    if self.count == 3:
                        self.abort()
                def run(self):
                    self.listen()
            counter = TrafficCounter()
            counter.start()
            publisher = Publisher()
            for car in range(3):
                publisher.publish("cars", car)
            counter.join(30)
            print(json.dumps([counter.count, counter.name, counter.ident is not None,
                              counter.is_alive(), counter.daemon]))
            """
        )
        self.assertEqual(result, [3, "counter", True, False, False])

    async def test_pep8_names(self):
        result = await self.script(
            """
            class S(Subscriber):
                def event(self, event):
                    self.got = event.subject
                    self.abort()
            s = S()
            s.set_threading(0)
            s.subscribe_match("^pep")
            Publisher().publish("pep8", 1)
            s.listen()
            print(json.dumps(s.got))
            """
        )
        self.assertEqual(result, "pep8")


class ThreadingTests(BlockingClientTestCase):
    async def test_threading_on_runs_events_concurrently(self):
        """
        Two events meet at a barrier inside event(): only possible if they
        run at the same time.
        """
        result = await self.script(
            """
            class Together(Subscriber):
                barrier = threading.Barrier(2, timeout=10)
                met = []
                def event(self, event):
                    self.met.append(self.barrier.wait())
                    if len(self.met) == 2:
                        self.abort()
            s = Together()
            s.subscribe("t")
            Publisher().publish("t", 1)
            Publisher().publish("t", 2)
            s.listen()
            print(json.dumps(sorted(s.met)))
            """
        )
        self.assertEqual(result, [0, 1])

    async def test_threading_off_runs_one_event_at_a_time_in_order(self):
        result = await self.script(
            """
            class OneByOne(Subscriber):
                busy = 0
                most = 0
                got = []
                def event(self, event):
                    self.busy += 1
                    self.most = max(self.most, self.busy)
                    time.sleep(0.001)
                    self.got.append(event.msg)
                    self.busy -= 1
                    if len(self.got) == 200:
                        self.abort()
            s = OneByOne()
            s.setThreading(0)
            s.subscribe("n")
            publisher = Publisher()
            for n in range(200):
                publisher.publish("n", n)
            s.listen()
            print(json.dumps([s.most, s.got == list(range(200)),
                              threading.current_thread() is threading.main_thread()]))
            """
        )
        self.assertEqual(result, [1, True, True])

    async def test_calls_from_inside_event_return_while_events_pile_up(self):
        """
        A subscriber with thousands of events behind it (far more than the
        client reads ahead: 256 in its inbox, 64 handed over) subscribes,
        unsubscribes and aborts from inside event(), on the listen() thread.
        Were an answer stuck behind the unread events, this would deadlock:
        the handler waits for the answer, the client stops reading until the
        handler returns.  The script is then cut short by its time limit.
        """
        result = await self.script(
            """
            publisher = Publisher()
            class Busy(Subscriber):
                calls = []
                def event(self, event):
                    if event.msg == 0:
                        for n in range(1, 3000):
                            publisher.publish("flood", n)
                        self.subscribe("other")
                        self.calls.append("subscribe")
                        self.unsubscribe("flood")
                        self.calls.append("unsubscribe")
                        self.abort()
            s = Busy()
            s.setThreading(0)
            s.subscribe("flood")
            publisher.publish("flood", 0)
            s.listen()
            print(json.dumps(s.calls))
            """,
        )
        self.assertEqual(result, ["subscribe", "unsubscribe"])


class BadInputTests(BlockingClientTestCase):
    async def test_no_server_raises_naming_error_naming_the_address(self):
        result = await self.script(
            """
            try:
                Publisher(esURI="tcp:127.0.0.1:1")
            except NamingError as e:
                print(json.dumps(str(e)))
            """
        )
        self.assertIn("cannot reach the event server at tcp:127.0.0.1:1", result)

    async def test_a_server_that_never_answers_raises_naming_error_in_the_end(self):
        """
        A listening socket whose backlog is full and which never accepts:
        the connection attempt gets no answer at all, and the client gives
        up after its connect timeout.
        """
        port = silent_port(self)
        result = await self.script(
            f"""
            try:
                Publisher(esURI="tcp:127.0.0.1:{port}")
            except NamingError as e:
                print(json.dumps(str(e)))
            """
        )
        self.assertEqual(
            result, f"no event server answered at tcp:127.0.0.1:{port} within 5 seconds"
        )

    async def test_a_message_json_cannot_carry_is_refused_naming_its_type(self):
        result = await self.script(
            """
            try:
                Publisher().publish("x", {1, 2})
            except TypeError as e:
                print(json.dumps(str(e)))
            """
        )
        self.assertIn("set", result)
        self.assertIn("codec", result)

    async def test_an_event_handler_error_is_logged_and_delivery_goes_on(self):
        result = await self.script(
            """
            class Fragile(Subscriber):
                got = []
                def event(self, event):
                    self.got.append(event.msg)
                    if event.msg == "bad":
                        raise ValueError("cannot cope")
                    self.abort()
            s = Fragile()
            s.setThreading(0)
            s.subscribe("fragile.subject")
            publisher = Publisher()
            publisher.publish("fragile.subject", "bad")
            publisher.publish("fragile.subject", "good")
            s.listen()
            print(json.dumps(s.got))
            """
        )
        self.assertEqual(result, ["bad", "good"])
        self.assertIn("fragile.subject", self.stderr)
        self.assertIn("ValueError: cannot cope", self.stderr)


class SlowSubscriberTests(BlockingClientTestCase):
    server_settings = {"queue_size": 10, "when_full": WhenFull.DROP}

    async def setUp(self):
        # Each connection's drop count is in the line logged when it closes.
        self.logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        await super().setUp()

    async def test_a_slow_event_makes_the_server_drop_not_the_client_hoard(self):
        """
        A subscriber that handles nothing until everything is published,
        and then 2 ms per event, with a server queue of 10 in drop mode:
        more bytes are published than the kernel could ever buffer for it
        (tcp_rmem's maximum, read here), so the server must drop, and the
        client gets exactly what was not dropped.  (The closing marker may
        be dropped too, so it is sent until it arrives.)
        """
        events = most_kernel_buffering() // len(PAYLOAD) + 500
        result = await self.script(
            f"""
            class Slow(Subscriber):
                loads = 0
                def event(self, event):
                    if event.subject == "load":
                        self.loads += 1
                        time.sleep(0.002)
                    else:
                        self.abort()
            s = Slow()
            s.setThreading(0)
            s.subscribe(["load", "done"])
            publisher = Publisher(codec="raw")
            for n in range({events}):
                publisher.publish("load", b"x" * {len(PAYLOAD)})
            def mark_the_end():
                while not s._es_aborted.wait(0.05):
                    publisher.publish("done", b"")
            threading.Thread(target=mark_the_end, daemon=True).start()
            s.listen()
            print(json.dumps(s.loads))
            """
        )
        await self.service.factory.disconnect_all(10)
        dropped = sum(e.get("dropped", 0) for e in self.logged if "peer" in e)
        self.assertGreater(dropped, 0)
        self.assertLess(result, events)
        self.assertGreaterEqual(result, events - dropped)


PAYLOAD = b"x" * 32 * 1024


def most_kernel_buffering() -> int:
    """
    The most bytes the kernel lets a loopback connection hold: the
    largest receive buffer and the largest send buffer.
    """
    receive = int(Path("/proc/sys/net/ipv4/tcp_rmem").read_text().split()[2])
    send = int(Path("/proc/sys/net/ipv4/tcp_wmem").read_text().split()[2])
    return receive + send


class ManyThreadsTests(BlockingClientTestCase):
    async def test_ten_publisher_threads_and_twenty_subscriber_threads(self):
        result = await self.script(
            """
            class Counter(Subscriber, threading.Thread):
                def __init__(self):
                    Subscriber.__init__(self)
                    threading.Thread.__init__(self)
                    self.subscribe("stress")
                    self.count = 0
                    self.lock = threading.Lock()
                def event(self, event):
                    with self.lock:
                        self.count += 1
                        if self.count == 1000:
                            self.abort()
                def run(self):
                    self.listen()
            def produce():
                publisher = Publisher()
                for n in range(100):
                    publisher.publish("stress", n)
            counters = [Counter() for _ in range(20)]
            for counter in counters:
                counter.start()
            producers = [threading.Thread(target=produce) for _ in range(10)]
            for producer in producers:
                producer.start()
            for thread in producers + counters:
                thread.join(60)
            print(json.dumps([c.count for c in counters]))
            """
        )
        self.assertEqual(result, [1000] * 20)
