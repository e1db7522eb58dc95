"""
Prometheus metrics: the collector over a given snapshot, the metrics
service in this process, and C{twistd eventd --metrics} scraped over HTTP.
"""

import re

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from twisted.application.service import MultiService
from twisted.internet import reactor
from twisted.internet.endpoints import TCP4ServerEndpoint
from twisted.internet.error import CannotListenError
from twisted.internet.testing import EventLoggingObserver, MemoryReactorClock
from twisted.logger import globalLogPublisher
from twisted.python.threadable import isInIOThread
from twisted.trial.unittest import SynchronousTestCase, TestCase
from twisted.web.client import Agent, HTTPConnectionPool, readBody

from eventd.server.metrics import MetricsService, StatsCollector
from eventd.server.stats import ServerStats, SubscriberStats
from eventd.server.tap import Options, makeService
from tests.servers import Collector, connected, run_server, serve_in_process, within

WAIT = 20
"""Seconds any one wait on a server, a scrape or an event may take."""

METRICS_AT = re.compile(r"metrics at (http://127\.0\.0\.1:\d+/metrics)")


def samples(text: str) -> dict[str, float]:
    """Every sample of a scrape, by name and its code label, if it has one."""
    return {
        sample.name + "".join(f"{{{v}}}" for v in sample.labels.values()): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def row(peer: str, depth: int, high_water: int) -> SubscriberStats:
    return SubscriberStats(
        peer, 1, depth, high_water, delivered=7, dropped=0, queue_bytes=depth * 10, policy="block"
    )


def figures(**changes) -> ServerStats:
    """Figures of a quiet server, but for C{changes}."""
    quiet = dict(
        uptime=0.0, connections=0, subscriptions=0, patterns=0, published=0, delivered=0,
        dropped=0, memory_bytes=0, memory_peak_bytes=0, memory_budget_bytes=1000,
        slow_consumers=0, refused={}, closed={}, longest_stall=0.0, subscribers=(),
    )
    return ServerStats(**{**quiet, **changes})


class CollectorTests(SynchronousTestCase):
    def scrape(self, stats: ServerStats) -> str:
        registry = CollectorRegistry()
        registry.register(StatsCollector(lambda: stats))
        return generate_latest(registry).decode()

    def test_every_figure_is_a_metric(self):
        stats = figures(
            uptime=61.5,
            connections=4,
            subscriptions=9,
            patterns=2,
            published=100,
            delivered=180,
            dropped=20,
            memory_bytes=4096,
            memory_budget_bytes=1 << 30,
            slow_consumers=2,
            refused={"BAD_SUBJECT": 3, "LIMIT_EXCEEDED": 1},
            closed={"SLOW_CONSUMER": 2, "HEARTBEAT_TIMEOUT": 5},
            longest_stall=0.25,
            subscribers=(row("a", 3, 10), row("b", 5, 8), row("c", 0, 40)),
            logins={"scram": 7, "certificate": 1},
            login_failures=3,
        )
        self.assertEqual(
            samples(self.scrape(stats)),
            {
                "eventd_events_published_total": 100,
                "eventd_events_delivered_total": 180,
                "eventd_events_dropped_total": 20,
                "eventd_uptime_seconds": 61.5,
                "eventd_connections": 4,
                "eventd_subscribers": 3,
                "eventd_subscriptions": 9,
                "eventd_patterns": 2,
                "eventd_queued_events": 8,
                "eventd_queue_depth_max": 5,
                "eventd_queue_high_water_max": 40,
                "eventd_memory_bytes": 4096,
                "eventd_memory_budget_bytes": 1 << 30,
                "eventd_reactor_stall_seconds_max": 0.25,
                "eventd_slow_consumers_total": 2,
                "eventd_refusals_total{BAD_SUBJECT}": 3,
                "eventd_refusals_total{LIMIT_EXCEEDED}": 1,
                "eventd_closed_connections_total{SLOW_CONSUMER}": 2,
                "eventd_closed_connections_total{HEARTBEAT_TIMEOUT}": 5,
                "eventd_logins_total{scram}": 7,
                "eventd_logins_total{certificate}": 1,
                "eventd_login_failures_total": 3,
            },
        )

    def test_counters_are_typed_as_counters(self):
        stats = figures()
        text = self.scrape(stats)
        self.assertIn("# TYPE eventd_events_published_total counter\n", text)
        self.assertIn("# TYPE eventd_connections gauge\n", text)
        self.assertIn("eventd_queue_depth_max 0.0\n", text)

    def test_no_series_is_labelled_with_a_peer(self):
        rows = (row("10.1.1.1:5", 1, 1), row("x:6", 2, 2))
        stats = figures(subscribers=rows, closed={"SLOW_CONSUMER": 1})
        text = self.scrape(stats)
        self.assertNotIn("10.1.1.1", text)
        labels = set(re.findall(r"\{(\w+)=", text))
        self.assertEqual(labels, {"code"})


class Scraper:
    """
    GETs over HTTP on loopback, its connections closed when the test ends.
    """

    def __init__(self, testcase: TestCase) -> None:
        pool = HTTPConnectionPool(reactor)
        testcase.addCleanup(pool.closeCachedConnections)
        self._agent = Agent(reactor, pool=pool)

    async def get(self, url: str) -> tuple[int, str, str]:
        """The status, the Content-Type and the body of a GET."""
        response = await within(self._agent.request(b"GET", url.encode()), WAIT)
        body = await within(readBody(response), WAIT)
        [content_type] = response.headers.getRawHeaders(b"content-type", [b""])
        return response.code, content_type.decode(), body.decode()


class ServiceTests(TestCase):
    """
    The metrics service in this process, beside a server in this process.
    """

    timeout = 90

    async def serve_metrics(self, stats) -> str:
        logged = EventLoggingObserver.createWithCleanup(self, globalLogPublisher)
        endpoint = TCP4ServerEndpoint(reactor, 0, interface="127.0.0.1")
        service = MetricsService(endpoint, stats, reactor)
        service.startService()
        self.addCleanup(service.stopService)
        texts = [e["log_format"].format(**e) for e in logged if "log_format" in e]
        [url] = [m.group(1) for m in map(METRICS_AT.match, texts) if m]
        return url

    async def test_a_scrape_reads_the_figures_of_that_moment(self):
        server = await serve_in_process(self)
        url = await self.serve_metrics(server.factory.stats)
        scraper = Scraper(self)
        _, _, before = await scraper.get(url)
        subscriber = await connected(self, server.uris[0])
        got = Collector(2)
        await subscriber.subscribe_match("^a", got)
        await server.publish(["a1", "a2", "b"], "m")
        await within(got.done, WAIT)
        _, _, after = await scraper.get(url)
        before, after = samples(before), samples(after)
        self.assertEqual(before["eventd_connections"], 0)
        self.assertEqual(before["eventd_events_published_total"], 0)
        varying = {"eventd_uptime_seconds", "eventd_memory_bytes", "eventd_reactor_stall_seconds_max"}
        self.assertEqual(
            {name: after[name] for name in after if name not in varying},
            {
                "eventd_events_published_total": 3,
                "eventd_events_delivered_total": 2,
                "eventd_events_dropped_total": 0,
                "eventd_connections": 1,
                "eventd_subscribers": 1,
                "eventd_subscriptions": 1,
                "eventd_patterns": 1,
                "eventd_queued_events": 0,
                "eventd_queue_depth_max": 0,
                # a1 went out at once, the first of the turn; a2 waited.
                "eventd_queue_high_water_max": 1,
                "eventd_memory_budget_bytes": 1 << 30,
                "eventd_slow_consumers_total": 0,
                "eventd_login_failures_total": 0,
            },
        )

    async def test_the_snapshot_is_taken_in_the_reactor_thread(self):
        """
        The WSGI resource collects in a pool thread; the server's state may
        change under a reader there, so the snapshot must be taken by the
        reactor.
        """
        threads = []

        server = await serve_in_process(self)

        def recording():
            threads.append(isInIOThread())
            return server.factory.stats()

        code, _, _ = await Scraper(self).get(await self.serve_metrics(recording))
        self.assertEqual((code, threads), (200, [True]))

    async def test_only_metrics_is_served(self):
        server = await serve_in_process(self)
        url = await self.serve_metrics(server.factory.stats)
        code, _, _ = await Scraper(self).get(url.replace("/metrics", "/other"))
        self.assertEqual(code, 404)

    async def test_a_taken_port_fails_the_start(self):
        server = await serve_in_process(self)
        taken = int(server.uris[0].rsplit(":", 1)[1])
        endpoint = TCP4ServerEndpoint(reactor, taken, interface="127.0.0.1")
        service = MetricsService(endpoint, server.factory.stats, reactor)
        self.assertRaises(CannotListenError, service.startService)


class MakeServiceTests(SynchronousTestCase):
    def service(self, *argv: str) -> tuple[MultiService, MemoryReactorClock]:
        options = Options()
        options.parseOptions(["--listen", "tcp:1:interface=127.0.0.1", *argv])
        reactor = MemoryReactorClock()
        return makeService(options, reactor), reactor

    def test_metrics_listen_only_when_asked_for(self):
        plain, _ = self.service()
        self.assertNotIn("metrics", [child.name for child in plain])
        served, reactor = self.service("--metrics", "tcp:9100:interface=127.0.0.1")
        self.assertIsInstance(served.getServiceNamed("metrics"), MetricsService)
        served.startService()
        self.assertEqual(
            [(port, interface) for port, _, _, interface in reactor.tcpServers],
            [(1, "127.0.0.1"), (9100, "127.0.0.1")],
        )


class EndToEndTests(TestCase):
    """
    C{twistd eventd --metrics tcp:0:...}: the port it chose is in its log.
    """

    timeout = 90

    async def test_a_scrape_after_known_publishes(self):
        server = await run_server(
            self, "-p", "0", "--metrics", "tcp:0:interface=127.0.0.1"
        )
        found = METRICS_AT.search(server.output)
        self.assertIsNotNone(found, server.output)
        first = await connected(self, server.uri)
        second = await connected(self, server.uri)
        publisher = await connected(self, server.uri)
        got_first, got_second = Collector(3), Collector(2)
        await first.subscribe(["news", "sport"], got_first)
        await second.subscribe_match("^new", got_second)
        for message in range(2):
            await publisher.publish("news", message)
        await publisher.publish(["sport", "weather"], "final")
        await within(got_first.done, WAIT)
        await within(got_second.done, WAIT)

        code, content_type, body = await Scraper(self).get(found.group(1))

        self.assertEqual(code, 200, body)
        self.assertRegex(
            content_type, r"^text/plain; version=\d+\.\d+\.\d+; charset=utf-8$"
        )
        figures = samples(body)
        # How many events ever waited in a queue depends on how they met
        # the reactor's turns: at most one at a time here.
        self.assertLessEqual(figures.pop("eventd_queue_high_water_max"), 1)
        varying = {"eventd_uptime_seconds", "eventd_memory_bytes", "eventd_reactor_stall_seconds_max"}
        self.assertEqual(
            {name: figures[name] for name in figures if name not in varying},
            {
                "eventd_events_published_total": 4,
                "eventd_events_delivered_total": 5,
                "eventd_events_dropped_total": 0,
                "eventd_connections": 3,
                "eventd_subscribers": 2,
                "eventd_subscriptions": 3,
                "eventd_patterns": 1,
                "eventd_queued_events": 0,
                "eventd_queue_depth_max": 0,
                "eventd_memory_budget_bytes": 1 << 30,
                "eventd_slow_consumers_total": 0,
                "eventd_login_failures_total": 0,
            },
        )
        self.assertGreater(figures["eventd_uptime_seconds"], 0)
        self.assertLess(figures["eventd_uptime_seconds"], 600)
