"""
Prometheus metrics: C{twistd eventd --metrics ENDPOINT} serves the server's
figures (L{eventd.stats}) over HTTP at C{/metrics}, in Prometheus's text
format (or OpenMetrics, if the scraper asks for it).

Nothing is counted for the metrics: at each scrape a collector takes one
snapshot of the figures the server keeps anyway and turns it into metric
families, so publishing and delivering cost what they did before.

Per-subscriber figures are exported as sums and maxima, not with a label
per subscriber.  A subscriber is known only by its address and ephemeral
port, new at each reconnection, so a per-peer label would make a new time
series for every connection the server ever had: unbounded cardinality in
Prometheus for a figure that matters only while the connection lasts.  The
deepest queue and the highest high-water mark tell whether somebody falls
behind; C{eventd stats} tells who.
"""

from functools import partial
from typing import Callable, Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.twisted import MetricsResource
from twisted.internet.address import IPv4Address, IPv6Address
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import (
    IListeningPort,
    IReactorFromThreads,
    IStreamServerEndpoint,
)
from twisted.internet.threads import blockingCallFromThread
from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Site

from eventd.server.listening import ListeningService
from eventd.server.stats import ServerStats


class StatsCollector:
    """
    A Prometheus collector whose metrics are one snapshot of the server's
    figures, taken at each scrape.
    """

    def __init__(self, snapshot: Callable[[], ServerStats]) -> None:
        self._snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        stats = self._snapshot()
        queues = stats.subscribers
        counters = [
            (
                "eventd_events_published",
                "Events published (one per subject of a publish).",
                stats.published,
            ),
            (
                "eventd_events_delivered",
                "Events written to subscribers.",
                stats.delivered,
            ),
            (
                "eventd_events_dropped",
                "Events dropped for subscribers whose queue was full.",
                stats.dropped,
            ),
        ]
        gauges = [
            ("eventd_uptime_seconds", "Seconds since the server started.", stats.uptime),
            ("eventd_connections", "Connected clients.", stats.connections),
            (
                "eventd_subscribers",
                "Connections holding at least one subscription.",
                len(queues),
            ),
            (
                "eventd_subscriptions",
                "Exact subjects and patterns held, summed over the connections.",
                stats.subscriptions,
            ),
            ("eventd_patterns", "Distinct patterns held.", stats.patterns),
            (
                "eventd_queued_events",
                "Events waiting in subscribers' queues, all together.",
                sum(queue.queue_depth for queue in queues),
            ),
            (
                "eventd_queue_depth_max",
                "Events waiting in the fullest subscriber's queue.",
                max((queue.queue_depth for queue in queues), default=0),
            ),
            (
                "eventd_queue_high_water_max",
                "The most events a connected subscriber's queue ever held.",
                max((queue.high_water for queue in queues), default=0),
            ),
            (
                "eventd_memory_bytes",
                "Bytes held for clients: queued events and unhandled input.",
                stats.memory_bytes,
            ),
            (
                "eventd_memory_budget_bytes",
                "The most bytes the server holds for its clients (--max-memory-bytes).",
                stats.memory_budget_bytes,
            ),
            (
                "eventd_reactor_stall_seconds_max",
                "The longest the reactor was kept from serving connections, last minute.",
                stats.longest_stall,
            ),
        ]
        for name, documentation, value in counters:
            yield CounterMetricFamily(name, documentation, value=value)
        for name, documentation, value in gauges:
            yield GaugeMetricFamily(name, documentation, value=value)
        yield CounterMetricFamily(
            "eventd_slow_consumers",
            "Subscribers disconnected for not keeping up.",
            value=stats.slow_consumers,
        )
        yield _by_code(
            "eventd_refusals", "Requests refused, by error code.", stats.refused
        )
        logins = CounterMetricFamily(
            "eventd_logins",
            "Connections admitted as a user, by how they proved it (scram, certificate).",
            labels=["method"],
        )
        for method, count in stats.logins.items():
            logins.add_metric([method], count)
        yield logins
        yield CounterMetricFamily(
            "eventd_login_failures",
            "Logins refused for a wrong user name or password.",
            value=stats.login_failures,
        )
        yield _by_code(
            "eventd_closed_connections",
            "Connections the server closed, by the reason its Goodbye gave "
            "(HEARTBEAT_TIMEOUT, SLOW_CONSUMER, ...).",
            stats.closed,
        )


def _by_code(name: str, documentation: str, counts: dict[str, int]) -> Metric:
    """
    A counter with one series per code: codes are a fixed, small set (the
    wire's error codes, the Goodbye codes), unlike peers.
    """
    family = CounterMetricFamily(name, documentation, labels=["code"])
    for code, count in counts.items():
        family.add_metric([code], count)
    return family


class MetricsSite(Site):
    """
    A site that keeps no access log: a scrape every few seconds would fill
    the server's log with lines nobody reads.
    """

    noisy = False

    def log(self, request) -> None:
        pass


class MetricsService(ListeningService):
    """
    Serves the metrics of one event server over HTTP at C{/metrics}.

    Once listening it logs C{metrics at http://HOST:PORT/metrics}, naming the
    port really bound (so C{tcp:0} can be used, and found).
    """

    name = "metrics"
    purpose = "serve metrics"
    log = Logger()

    def __init__(
        self,
        endpoint: IStreamServerEndpoint,
        stats: Callable[[], ServerStats],
        reactor: IReactorFromThreads,
    ) -> None:
        """
        @param stats: takes a snapshot of the event server's figures, in the
            reactor thread.
        """
        # MetricsResource is a WSGI resource: it collects in a thread of the
        # reactor's pool, while the server's state belongs to the reactor
        # thread.  So the snapshot is taken there, one call per scrape.
        snapshot = partial(blockingCallFromThread, reactor, stats)
        registry = CollectorRegistry()
        registry.register(StatsCollector(snapshot))
        root = Resource()
        root.putChild(b"metrics", MetricsResource(registry))
        super().__init__([endpoint], MetricsSite(root))

    def listened(self, ports: list[IListeningPort]) -> None:
        for port in ports:
            self.log.info("metrics at {url}", url=_metrics_url(port.getHost()))

    def stopService(self) -> Deferred:
        super().stopService()
        return self.stopListening()


def _metrics_url(address: object) -> str:
    """
    Where the metrics of a port listening on C{address} are scraped.
    """
    if isinstance(address, IPv4Address):
        return f"http://{address.host}:{address.port}/metrics"
    if isinstance(address, IPv6Address):
        return f"http://[{address.host}]:{address.port}/metrics"
    return f"/metrics over HTTP on {address}"
