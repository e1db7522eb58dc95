"""
The six workloads, W1 to W6, run against one system at a time.

Each case starts its own server, its subscriber processes (which say when
they are subscribed), then its publisher processes (which say when they are
connected), and only then tells the publishers to go; it measures the
server's CPU time and memory around that part, and reads the results the
clients report.  Every wait has a timeout, every client has a deadline, and
every process is stopped, by its PID, when the case ends, however it ends.
"""

import json
import math
import os
import random
import time
from dataclasses import dataclass, field
from typing import Optional

from benchsuite.harness import (
    Proc,
    Processes,
    Sampler,
    StepFailed,
    cpu_seconds,
    load_average,
    rss_bytes,
    socket_count,
    wait_until,
)
from benchsuite.systems import System

MB = 1024 * 1024


@dataclass(frozen=True)
class Scale:
    """How big each workload is.  L{FULL} is the issue's; L{QUICK} is a smoke run."""

    name: str
    w1_subscribers: tuple = (1, 10, 100)
    w1_events: int = 20_000
    w1_events_many: int = 5_000  # for the largest subscriber count
    w2_publishers: int = 10
    w2_events_each: int = 2_000
    w3_patterns: int = 1_000
    w3_connections: int = 100
    w3_events: int = 5_000
    w4_rate: int = 1_000
    w4_seconds: float = 5
    w5_events: int = 100_000
    w5_fast: int = 5
    w5_slow_ms: int = 10
    w5_message_bytes: int = 1024
    w5_cap: float = 45
    w6_connections: tuple = (1_000, 5_000)
    settle: float = 5  # W5: how long to wait for the server to close the clients' sockets
    cap: float = 60  # how long a W1-W3 publisher may publish before it stops
    quiet: float = 2.0  # after the publishers are done, how long a subscriber waits for more
    drain: float = 60  # how long subscribers may take after the cap to get what is on its way
    sub_processes: int = 10  # subscriber processes a fan-out spreads its connections over
    window: int = 1_000  # publishes awaiting an answer (eventd), commands per pipeline (Redis)


FULL = Scale("full")
QUICK = Scale(
    "quick",
    w1_events=1_000,
    w1_events_many=300,
    w2_events_each=100,
    w3_events=300,
    w4_seconds=1,
    w5_events=3_000,
    w5_cap=3,
    w6_connections=(100, 500),
    settle=2,
    cap=10,
    quiet=1.0,
    drain=20,
)


@dataclass
class Case:
    """One row group of the table: a workload with its parameters."""

    name: str
    workload: str
    run: object  # (Context, Processes, System, Case) -> Outcome
    params: dict = field(default_factory=dict)


@dataclass
class Outcome:
    metrics: dict = field(default_factory=dict)
    notes: list = field(default_factory=list)
    details: dict = field(default_factory=dict)


class Context:
    """What every case needs: the scale, where logs go, how to start a client."""

    def __init__(self, scale: Scale, log_root: str) -> None:
        self.scale = scale
        self.log_root = log_root

    def case_dir(self, case: Case, system: System) -> str:
        slug = case.name.replace(" ", "_").replace("=", "")
        path = os.path.join(self.log_root, f"{slug}-{system.name}")
        os.makedirs(path, exist_ok=True)
        return path

    def client(self, procs: Processes, system: System, role: str, name: str, config: dict) -> Proc:
        config_path = os.path.join(procs.log_dir, name + ".json")
        with open(config_path, "w") as config_file:
            json.dump(config, config_file)
        return procs.start(
            name,
            system.client_argv(role, config_path),
            env=system.client_env(procs.log_dir),
        )


# Helpers shared by the workloads.


def spread(items: list, groups: int) -> list[list]:
    """C{items} in at most C{groups} contiguous, nearly equal, non-empty runs."""
    groups = max(1, min(groups, len(items)))
    size, extra = divmod(len(items), groups)
    runs, start = [], 0
    for index in range(groups):
        end = start + size + (1 if index < extra else 0)
        runs.append(items[start:end])
        start = end
    return runs


class Meter:
    """The server's CPU time, RSS and the load average around the measured part of a case."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def begin(self) -> None:
        self.cpu_before = cpu_seconds(self.pid)
        self.rss_before = rss_bytes(self.pid)
        self.sampler = Sampler(self.pid).start()

    def end(self) -> None:
        self.cpu = cpu_seconds(self.pid) - self.cpu_before
        self.rss_peak = max(self.sampler.stop(), rss_bytes(self.pid))
        self.runnable = self.sampler.runnable
        self.load = load_average()

    def figures(self) -> dict:
        """What every case reports of the machine: the load average and the runnable tasks."""
        return {"load1": self.load[0], "runnable": self.runnable}

    def cpu_per_million(self, deliveries: int) -> Optional[float]:
        return self.cpu / deliveries * 1e6 if deliveries else None


def connection_reports(subscribers: list[Proc]) -> list[dict]:
    return [report for proc in subscribers for report in proc.result["connections"]]


def client_notes(subscribers: list[Proc], publishers: list[Proc]) -> list[str]:
    """What the clients said went wrong: lost connections, errors, deadlines."""
    notes = []
    problems = [
        problem
        for report in connection_reports(subscribers)
        for problem in report.get("problems", [])
    ]
    if problems:
        notes.append(f"{len(problems)} subscriber problem(s), e.g. {problems[0]}")
    deadlines = [proc.name for proc in subscribers if proc.result.get("reason") == "deadline"]
    if deadlines:
        notes.append(f"subscribers that reported at their deadline: {', '.join(deadlines)}")
    for proc in publishers:
        result = proc.result
        if result.get("errors"):
            notes.append(f"{proc.name}: {result['errors']} publish errors, e.g. {result['first_error']}")
    disorder = sum(report["out_of_order"] for report in connection_reports(subscribers))
    if disorder:
        notes.append(f"{disorder} events arrived out of their publisher's order")
    return notes


def subscriber_deadline(ctx: Context, setup: float, cap: float) -> float:
    return time.time() + setup + cap + ctx.scale.drain


def start_subscribers(ctx, procs, system, server, groups, setup, cap, latencies=False):
    """
    One subscriber process per group of connection specs; wait until every
    one has said its connections are subscribed.
    """
    deadline = subscriber_deadline(ctx, setup, cap)
    subscribers = [
        ctx.client(
            procs,
            system,
            "sub",
            f"sub{index}",
            {
                "uri": server.uri,
                "deadline": deadline,
                "quiet": ctx.scale.quiet,
                "latencies": latencies,
                "connections": group,
            },
        )
        for index, group in enumerate(groups)
    ]
    procs.wait(lambda: all(proc.ready for proc in subscribers), setup, "subscribers ready")
    return subscribers


def start_publishers(ctx, procs, system, server, configs, cap):
    deadline = time.time() + 60 + cap
    publishers = [
        ctx.client(
            procs,
            system,
            "pub",
            f"pub{index}",
            {
                "uri": server.uri,
                "deadline": deadline,
                "cap": cap,
                "window": ctx.scale.window,
                **system.publisher_config(),
                **config,
            },
        )
        for index, config in enumerate(configs)
    ]
    procs.wait(lambda: all(proc.ready for proc in publishers), 60, "publishers connected")
    return publishers


def run_to_the_end(ctx, procs, subscribers, publishers, cap):
    """
    Let the publishers go; once they have all reported, tell the
    subscribers to finish, and wait for their reports.
    """
    for proc in publishers:
        proc.send("go")
    procs.wait(lambda: all(proc.result for proc in publishers), cap + 30, "publishers done")
    for proc in subscribers:
        proc.send("finish")
    procs.wait(
        lambda: all(proc.result for proc in subscribers),
        ctx.scale.drain + ctx.scale.quiet + 15,
        "subscribers done",
    )


def accepted(proc: Proc) -> int:
    """
    The events the server took from a publisher: those it answered (eventd,
    Pyro, a Redis pipeline), or, where a publish has no answer (NATS), those
    sent before a flush that succeeded.  Losses count against these: a
    publish still unsent or unanswered when a capped publisher stopped was
    never the server's to deliver.
    """
    return proc.result["acked"] or proc.result["published"]


def server_accepted(system: System, server, publishers: list[Proc], details: dict) -> int:
    """
    The events the server accepted in a case: by its own count where it
    keeps one (eventd's stats, exact even for a capped emit() publisher,
    whose events have no answers), else by the publishers' (L{accepted}).
    The server's figures go into C{details}.
    """
    figures = system.server_figures(server)
    if figures:
        details["server_figures"] = figures
        if isinstance(figures.get("published"), int):
            return figures["published"]
    return sum(accepted(proc) for proc in publishers)


def losses(expected: int, delivered: int, notes: list) -> int:
    """
    Events expected but not delivered.  More deliveries than expected means
    publishes in flight at a stop got through after all (or duplicates);
    that is noted, not counted as a negative loss.
    """
    if delivered > expected:
        notes.append(f"{delivered - expected:,} deliveries more than accepted publishes x subscribers (publishes in flight at the stop)")
    return max(0, expected - delivered)


def fan_metrics(subscribers, publishers, expected: int, meter: Meter, rate_name: str, notes: list) -> dict:
    """
    Deliveries (or events) per second from the first publish to the last
    delivery, losses against what the publishers really published, and
    the server's CPU per million deliveries.
    """
    reports = connection_reports(subscribers)
    delivered = sum(report["count"] for report in reports)
    first = min(proc.result["first_ns"] for proc in publishers if proc.result["first_ns"])
    last = max((report["last_ns"] or 0) for report in reports)
    seconds = (last - first) / 1e9 if last > first else None
    return {
        rate_name: delivered / seconds if seconds else 0.0,
        "lost": losses(expected, delivered, notes),
        "delivered": delivered,
        "published": sum(proc.result["published"] for proc in publishers),
        "accepted": sum(accepted(proc) for proc in publishers),
        "seconds": seconds,
        "cpu_s_per_M": meter.cpu_per_million(delivered),
        "server_cpu_s": meter.cpu,
        "rss_peak_mb": meter.rss_peak / MB,
        **meter.figures(),
    }


def cap_notes(publishers, wanted: int, cap: float) -> list[str]:
    published = sum(proc.result["published"] for proc in publishers)
    if any(proc.result.get("capped") for proc in publishers):
        return [f"publishing capped at {cap:.0f} s: {published:,} of {wanted:,} events published"]
    return []


# The workloads.


def w1_fan_out(ctx: Context, procs: Processes, system: System, case: Case) -> Outcome:
    """1 publisher, S subscribers of one exact subject, M events as fast as accepted."""
    scale = ctx.scale
    count, subscribers_wanted = case.params["events"], case.params["subscribers"]
    server = system.start_server(procs)
    specs = [{"subjects": ["bench.fan"], "expected": count} for _ in range(subscribers_wanted)]
    subscribers = start_subscribers(
        ctx, procs, system, server, spread(specs, scale.sub_processes), 60 + subscribers_wanted, scale.cap
    )
    publishers = start_publishers(ctx, procs, system, server, [{"subject": "bench.fan", "count": count}], scale.cap)
    return measure_fan(ctx, procs, system, server, subscribers, publishers, count, "deliveries_per_s", subscribers_wanted)


def w2_fan_in(ctx: Context, procs: Processes, system: System, case: Case) -> Outcome:
    """10 publishers at once, 2,000 events each, 1 subscriber."""
    scale = ctx.scale
    each = scale.w2_events_each
    server = system.start_server(procs)
    total = each * scale.w2_publishers
    subscribers = start_subscribers(
        ctx, procs, system, server, [[{"subjects": ["bench.in"], "expected": total}]], 60, scale.cap
    )
    publishers = start_publishers(
        ctx,
        procs,
        system,
        server,
        [{"subject": "bench.in", "count": each, "pub_id": n} for n in range(scale.w2_publishers)],
        scale.cap,
    )
    return measure_fan(ctx, procs, system, server, subscribers, publishers, total, "events_per_s")


def w3_patterns(ctx: Context, procs: Processes, system: System, case: Case) -> Outcome:
    """
    1,000 patterns bench.pat.<i>.* (one connection, or 100 connections of
    10), then 5,000 events on random subjects bench.pat.<i>.x: each event
    matches exactly one pattern, so every event is one delivery.
    """
    scale = ctx.scale
    patterns, connections = scale.w3_patterns, case.params["connections"]
    server = system.start_server(procs)
    chooser = random.Random(3)  # the same subjects for every system
    indices = [chooser.randrange(patterns) for _ in range(scale.w3_events)]
    per_connection = patterns // connections
    owner = [index // per_connection for index in indices]
    specs = [
        {
            "patterns": [system.subject_pattern(i) for i in range(c * per_connection, (c + 1) * per_connection)],
            "expected": owner.count(c),
        }
        for c in range(connections)
    ]
    subscribers = start_subscribers(
        ctx, procs, system, server, spread(specs, scale.sub_processes), 120, scale.cap
    )
    publishers = start_publishers(
        ctx,
        procs,
        system,
        server,
        [{"subjects_per_event": [f"bench.pat.{i}.x" for i in indices], "count": len(indices)}],
        scale.cap,
    )
    return measure_fan(ctx, procs, system, server, subscribers, publishers, len(indices), "events_per_s")


def measure_fan(
    ctx: Context,
    procs: Processes,
    system: System,
    server,
    subscribers: list,
    publishers: list,
    planned: int,
    unit: str,
    copies: int = 1,
) -> Outcome:
    """
    Run started subscribers and publishers to the end and measure them: the
    server's CPU meanwhile, what it accepted (each event delivered
    C{copies} times), and the rate in C{unit}.  W1, W2 and W3 differ only in
    what they start.
    """
    meter = Meter(server.pid)
    meter.begin()
    run_to_the_end(ctx, procs, subscribers, publishers, ctx.scale.cap)
    meter.end()
    details = {"server": server}
    taken = server_accepted(system, server, publishers, details)
    notes = cap_notes(publishers, planned, ctx.scale.cap) + client_notes(subscribers, publishers)
    metrics = fan_metrics(subscribers, publishers, taken * copies, meter, unit, notes)
    return Outcome(metrics, notes, details)


def percentile(ordered: list, fraction: float):
    """Nearest-rank percentile of an already sorted list."""
    if not ordered:
        return None
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def w4_latency(ctx: Context, procs: Processes, system: System, case: Case) -> Outcome:
    """1 publisher at 1,000 events/s for 5 s, 1 subscriber; latency from the payload's clock."""
    scale = ctx.scale
    count = int(scale.w4_rate * scale.w4_seconds)
    cap = scale.w4_seconds * 3 + 10
    server = system.start_server(procs)
    subscribers = start_subscribers(
        ctx, procs, system, server, [[{"subjects": ["bench.lat"], "expected": count}]], 60, cap, latencies=True
    )
    publishers = start_publishers(
        ctx, procs, system, server, [{"subject": "bench.lat", "count": count, "rate": scale.w4_rate}], cap
    )
    meter = Meter(server.pid)
    meter.begin()
    run_to_the_end(ctx, procs, subscribers, publishers, cap)
    meter.end()
    report = connection_reports(subscribers)[0]
    latencies = sorted(report.get("latencies_ns") or [])
    result = publishers[0].result
    details = {"server": server}
    published = server_accepted(system, server, publishers, details)
    notes = cap_notes(publishers, count, cap) + client_notes(subscribers, publishers)
    sent_seconds = (result["last_ns"] - result["first_ns"]) / 1e9 if published > 1 else None
    metrics = {
        "p50_ms": percentile(latencies, 0.50) / 1e6 if latencies else None,
        "p99_ms": percentile(latencies, 0.99) / 1e6 if latencies else None,
        "max_ms": latencies[-1] / 1e6 if latencies else None,
        "lost": losses(published, report["count"], notes),
        "delivered": report["count"],
        "published": published,
        "publish_rate": (result["published"] - 1) / sent_seconds if sent_seconds else None,
        "cpu_s_per_M": meter.cpu_per_million(report["count"]),
        "server_cpu_s": meter.cpu,
        **meter.figures(),
    }
    return Outcome(metrics, notes, details)


def w5_slow_subscriber(ctx: Context, procs: Processes, system: System, case: Case) -> Outcome:
    """
    1 publisher, 5 fast subscribers and 1 that takes 10 ms per event;
    100,000 events of 1 KiB.

    The run is capped: the publisher stops once it has published everything
    or after C{w5_cap} seconds, whichever comes first (in block mode the
    slow subscriber holds everyone to 100 events/s, so 100,000 events would
    take 1,000 s).  Then the slow one is stopped and says what it got (it
    is not waited for), and the fast subscribers take what is already on
    its way, until they have every accepted event or nothing more comes for
    the quiet time.
    """
    scale = ctx.scale
    count, cap = scale.w5_events, scale.w5_cap
    policy = case.params["policy"] if system.policies else None
    server = system.start_server(procs, policy)
    baseline_sockets = socket_count(server.pid)
    rss_idle = rss_bytes(server.pid)
    fast_specs = [[{"subjects": ["bench.slow"], "expected": count}] for _ in range(scale.w5_fast)]
    slow_spec = [[{"subjects": ["bench.slow"], "expected": None, "slow_ms": scale.w5_slow_ms}]]
    subscribers = start_subscribers(ctx, procs, system, server, fast_specs + slow_spec, 60, cap)
    fast, slow = subscribers[:-1], subscribers[-1]
    # The padding makes each JSON message 1 KiB: [id, seq, nanoseconds, "xxx..."].
    pad = scale.w5_message_bytes - len(json.dumps([0, count, time.time_ns(), ""]))
    publishers = start_publishers(
        ctx, procs, system, server, [{"subject": "bench.slow", "count": count, "pad": pad}], cap
    )
    publisher = publishers[0]
    meter = Meter(server.pid)
    meter.begin()
    publisher.send("go")
    how = []
    try:
        procs.wait(lambda: publisher.result, cap + 30, "the publisher done")
    except StepFailed:
        publisher.send("stop")
        procs.wait(lambda: publisher.result, 30, "the publisher stopped")
        how.append("the publisher did not stop by itself at the cap; the runner stopped it")
    result = publisher.result
    if result.get("capped"):
        how.append(f"the publisher stopped at the {cap:.0f} s cap, {result['published']:,} of {count:,} events sent")
    elif not how:
        how.append(f"the publisher published all {result['published']:,} events")
    # The slow subscriber goes first: in block mode it would otherwise go on
    # holding back publishes the server still has from the publisher, and
    # the fast subscribers would fall quiet while the server still had
    # events for them.
    slow.send("stop")
    procs.wait(lambda: slow.result, 30, "the slow subscriber's report")
    for proc in fast:
        proc.send("finish")
    procs.wait(lambda: all(proc.result for proc in fast), scale.drain + scale.quiet + 15, "fast subscribers done")
    how.append("then the slow subscriber was stopped, and the fast ones took what was on its way")
    details = {"server": server}
    published = server_accepted(system, server, publishers, details)
    meter.end()
    for proc in subscribers + publishers:
        proc.wait_exit(15)
    settled = wait_until(lambda: socket_count(server.pid) <= baseline_sockets, scale.settle)
    rss_after = rss_bytes(server.pid)

    fast_reports = connection_reports(fast)
    slow_report = connection_reports([slow])[0]
    notes = ["; ".join(how)]
    fast_delivered = sum(report["count"] for report in fast_reports)
    last_fast = max((report["last_ns"] or 0) for report in fast_reports)
    seconds = (last_fast - result["first_ns"]) / 1e9 if result["first_ns"] and last_fast > result["first_ns"] else None
    metrics = {
        "fast_deliveries_per_s": fast_delivered / seconds if seconds else 0.0,
        "fast_lost": losses(published * len(fast), fast_delivered, notes),
        "slow_received": slow_report["count"],
        "published": published,
        "sent": result["published"],
        "rss_idle_mb": rss_idle / MB,
        "rss_before_mb": meter.rss_before / MB,
        "rss_peak_mb": meter.rss_peak / MB,
        "rss_after_mb": rss_after / MB,
        "cpu_s_per_M": meter.cpu_per_million(fast_delivered + slow_report["count"]),
        "server_cpu_s": meter.cpu,
        "seconds": seconds,
        **meter.figures(),
    }
    figures = details.get("server_figures") or {}
    if figures.get("dropped") is not None:
        metrics["server_dropped"] = figures["dropped"]
    if not policy and system.policy_note:
        notes.append(system.policy_note)
    if not settled:
        notes.append(
            f"the server still held client sockets {scale.settle:.0f} s after the clients ended; RSS after read then"
        )
    notes += client_notes(subscribers, publishers)
    details["stopped_how"] = how
    return Outcome(metrics, notes, details)


def w6_connections(ctx: Context, procs: Processes, system: System, case: Case) -> Outcome:
    """
    N idle subscriber connections, each subscribed to one subject (the same
    one); the server's RSS per connection, then one event, and the time it
    takes to reach them all.
    """
    scale = ctx.scale
    wanted = case.params["connections"]
    server = system.start_server(procs)
    cpu_idle = cpu_seconds(server.pid)
    rss_idle = rss_bytes(server.pid)
    specs = [{"subjects": ["bench.idle"], "expected": 1} for _ in range(wanted)]
    groups = spread(specs, max(scale.sub_processes, math.ceil(wanted / system.conns_per_process)))
    setup = 120 + wanted * 0.05
    started = time.monotonic()
    subscribers = start_subscribers(ctx, procs, system, server, groups, setup, 30)
    setup_seconds = time.monotonic() - started
    rss_connected = rss_bytes(server.pid)
    cpu_setup = cpu_seconds(server.pid) - cpu_idle
    publishers = start_publishers(ctx, procs, system, server, [{"subject": "bench.idle", "count": 1}], 30)
    meter = Meter(server.pid)
    meter.begin()
    run_to_the_end(ctx, procs, subscribers, publishers, 30)
    meter.end()
    reports = connection_reports(subscribers)
    delivered = sum(report["count"] for report in reports)
    first = publishers[0].result["first_ns"]
    last = max((report["last_ns"] or 0) for report in reports)
    metrics = {
        "rss_per_conn_kib": (rss_connected - rss_idle) / wanted / 1024,
        "time_to_all_ms": (last - first) / 1e6 if first and last > first else None,
        "setup_s": setup_seconds,
        "lost": wanted - delivered,
        "delivered": delivered,
        "rss_idle_mb": rss_idle / MB,
        "rss_connected_mb": rss_connected / MB,
        "server_cpu_setup_s": cpu_setup,
        "server_cpu_s": meter.cpu,
        "subscriber_processes": len(groups),
        **meter.figures(),
    }
    return Outcome(metrics, client_notes(subscribers, publishers), {"server": server})


def cases(scale: Scale, workloads: set[str]) -> list[Case]:
    """The cases of the chosen workloads, in order."""
    chosen = []
    if "W1" in workloads:
        for count in scale.w1_subscribers:
            events = scale.w1_events_many if count == max(scale.w1_subscribers) and count > 10 else scale.w1_events
            chosen.append(Case(f"W1 S={count}", "W1", w1_fan_out, {"subscribers": count, "events": events}))
    if "W2" in workloads:
        chosen.append(Case("W2", "W2", w2_fan_in))
    if "W3" in workloads:
        chosen.append(Case(f"W3 1x{scale.w3_patterns}", "W3", w3_patterns, {"connections": 1}))
        per = scale.w3_patterns // scale.w3_connections
        chosen.append(
            Case(f"W3 {scale.w3_connections}x{per}", "W3", w3_patterns, {"connections": scale.w3_connections})
        )
    if "W4" in workloads:
        chosen.append(Case("W4", "W4", w4_latency))
    if "W5" in workloads:
        chosen.append(Case("W5 block", "W5", w5_slow_subscriber, {"policy": "block"}))
        chosen.append(Case("W5 drop", "W5", w5_slow_subscriber, {"policy": "drop"}))
    if "W6" in workloads:
        for count in scale.w6_connections:
            chosen.append(Case(f"W6 {count}", "W6", w6_connections, {"connections": count}))
    return chosen
