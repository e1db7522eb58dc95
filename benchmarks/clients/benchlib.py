"""
What every benchmark client script shares: its configuration, its JSON-line
reports, the runner's commands on stdin, and the per-connection tallies.

It runs under Python 3 (the eventd, Redis and NATS clients) and under Python
2.7 (Pyro 3's clients), so it keeps to the language both understand.

The conversation with the runner, one line each way:

- the runner starts a script with the path of a JSON configuration file;
- the script prints C{{"event": "ready", ...}} once connected (and, for a
  subscriber, subscribed, as its server has confirmed), then
  C{{"event": "result", ...}} once done, then exits by itself;
- the runner writes C{go} (a publisher may start), C{finish} (the
  publishers are done: a subscriber reports once it has everything it
  expects, or once nothing has arrived for the configured quiet time) or
  C{stop} (report now).  End of input counts as C{stop}, so a script never
  outlives its runner for long;
- whatever happens, a script reports by its configuration's C{deadline}
  (seconds since the epoch): every loop is bounded in time.
"""

from __future__ import division, print_function

import json
import os
import sys
import threading
import time
import traceback


def now_ns():
    """
    Wall-clock time in nanoseconds: the clock all processes share, so one
    process's send time can be compared with another's receive time.
    """
    try:
        return time.time_ns()
    except AttributeError:  # Python 2.7
        return int(time.time() * 1e9)


def load_config():
    """The JSON configuration whose path is the script's first argument."""
    with open(sys.argv[1]) as config_file:
        return json.load(config_file)


_emit_lock = threading.Lock()


def emit(kind, **fields):
    """
    Print one JSON line for the runner and flush it at once: the runner
    waits on these lines, never on the clock.
    """
    fields["event"] = kind
    line = json.dumps(fields)
    with _emit_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def fail(message):
    """Report an error the runner shows as it is, and end the process."""
    emit("error", error=message, traceback=traceback.format_exc())
    sys.stdout.flush()
    os._exit(1)


def watch_commands(on_command):
    """
    Read the runner's commands from stdin on a daemon thread and hand each to
    C{on_command} (on that thread).  End of input is C{stop}.
    """

    def read():
        while True:
            line = sys.stdin.readline()
            if not line:
                on_command("stop")
                return
            line = line.strip()
            if line:
                on_command(line)

    reader = threading.Thread(target=read, name="commands")
    reader.daemon = True
    reader.start()


def message(pub_id, seq, pad):
    """
    An event's message: who sent it, its number in that publisher's
    sequence, the wall-clock nanoseconds when it was made (for latency), and
    padding to the workload's size.  A list, so every codec carries it.
    """
    return [pub_id, seq, now_ns(), pad]


class Tally(object):
    """
    What one subscribing connection received: how many events, when the
    first and the last arrived, whether each publisher's events came in
    order, and (if asked) every event's latency.

    Only L{Lifecycle} touches it, under its lock.
    """

    def __init__(self, expected, keep_latencies):
        self.expected = expected
        self.count = 0
        self.first_ns = None
        self.last_ns = None
        self.out_of_order = 0
        self.latencies_ns = [] if keep_latencies else None
        self.problems = []
        self._last_seq = {}

    @property
    def complete(self):
        return self.expected is not None and self.count >= self.expected

    def record(self, msg, received_ns):
        self.count += 1
        if self.first_ns is None:
            self.first_ns = received_ns
        self.last_ns = received_ns
        pub_id, seq, sent_ns = msg[0], msg[1], msg[2]
        if seq <= self._last_seq.get(pub_id, -1):
            self.out_of_order += 1
        else:
            self._last_seq[pub_id] = seq
        if self.latencies_ns is not None:
            self.latencies_ns.append(received_ns - sent_ns)

    def report(self):
        report = {
            "expected": self.expected,
            "count": self.count,
            "first_ns": self.first_ns,
            "last_ns": self.last_ns,
            "out_of_order": self.out_of_order,
            "problems": self.problems[:5],
        }
        if self.latencies_ns is not None:
            report["latencies_ns"] = self.latencies_ns
        return report


class Lifecycle(object):
    """
    When a subscriber process is done, whatever its client library's
    concurrency (a reactor, an asyncio loop, threads): events are recorded
    from any thread, and L{wait} (on its own thread) returns the reason the
    process should report now.

    A process is done once every connection has what it expects; or, after
    the runner's C{finish}, once nothing has arrived for C{quiet} seconds
    (events were lost, or the expectation was open-ended); or at C{stop}; or
    at the deadline.
    """

    @classmethod
    def for_connections(cls, config):
        """
        A lifecycle with one tally per connection of a subscriber process's
        config, in the same order.
        """
        tallies = [
            Tally(spec.get("expected"), config.get("latencies", False))
            for spec in config["connections"]
        ]
        return cls(tallies, config.get("quiet", 2.0), config["deadline"])

    def __init__(self, tallies, quiet, deadline):
        self.tallies = tallies
        self.quiet = quiet
        self.deadline = deadline
        # A plain Lock: Python 2's RLock is written in Python, and this lock
        # is taken for every event.
        self._cond = threading.Condition(threading.Lock())
        self._incomplete = sum(
            1 for tally in tallies if tally.expected is not None and not tally.complete
        )
        self._open_ended = any(tally.expected is None for tally in tallies)
        self._last_event = None
        self._finishing = None
        self._stopped = False

    def record(self, tally, msg):
        """Count an event for C{tally}; call it as the event arrives."""
        received_ns = now_ns()
        with self._cond:
            was_complete = tally.complete
            tally.record(msg, received_ns)
            self._last_event = time.time()
            if not was_complete and tally.complete:
                self._incomplete -= 1
                if self._incomplete == 0 and not self._open_ended:
                    self._cond.notify_all()

    def problem(self, tally, text):
        """Note something that went wrong on a connection (a disconnect, say)."""
        with self._cond:
            tally.problems.append(text)

    def command(self, line):
        """A command from the runner: C{finish} or C{stop}."""
        with self._cond:
            if line == "finish" and self._finishing is None:
                self._finishing = time.time()
            elif line == "stop":
                self._stopped = True
            self._cond.notify_all()

    def wait(self):
        """
        Block until the process should report; return why: C{complete},
        C{quiet}, C{stopped} or C{deadline}.
        """
        with self._cond:
            while True:
                now = time.time()
                if self._stopped:
                    return "stopped"
                if self._incomplete == 0 and not self._open_ended:
                    return "complete"
                if now >= self.deadline:
                    return "deadline"
                wake = self.deadline
                if self._finishing is not None:
                    # Quiet since the finish, or since the last event if
                    # that came later: events sent before the finish may
                    # still be on their way.
                    quiet_until = max(self._finishing, self._last_event or 0) + self.quiet
                    if now >= quiet_until:
                        return "quiet"
                    wake = min(wake, quiet_until)
                self._cond.wait(max(0.01, wake - now))

    def report(self, reason, **extra):
        """Emit the result line for every connection of this process."""
        with self._cond:
            connections = [tally.report() for tally in self.tallies]
        emit("result", reason=reason, connections=connections, **extra)


def run_waiter(lifecycle, then):
    """
    Wait for C{lifecycle} on a daemon thread; call C{then(reason)} there once
    it is done.  For scripts whose main thread runs an event loop.
    """

    def wait():
        then(lifecycle.wait())

    waiter = threading.Thread(target=wait, name="lifecycle")
    waiter.daemon = True
    waiter.start()


class PublishPlan(object):
    """
    What a publisher sends, the same for every client library: C{count}
    events (each on its own subject when the configuration lists one
    subject per event), at C{rate} events per second or as fast as the
    server accepts them (rate 0), until the deadline.
    """

    def __init__(self, config):
        self.pub_id = config.get("pub_id", 0)
        self.count = config["count"]
        self.rate = config.get("rate") or 0
        self.deadline = config["deadline"]
        self.cap = config.get("cap")
        self.window = config.get("window", 1000)
        self.pad = "x" * config.get("pad", 0)
        self._subjects = config.get("subjects_per_event")
        self._subject = config.get("subject")

    def go(self):
        """
        Publishing starts now: the cap counts from here, not from the
        process's start (a slow import must not eat into it).
        """
        if self.cap is not None:
            self.deadline = min(self.deadline, time.time() + self.cap)

    def subject(self, seq):
        if self._subjects is not None:
            return self._subjects[seq]
        return self._subject

    def message(self, seq):
        return message(self.pub_id, seq, self.pad)

    def due(self, start, seq):
        """
        When event C{seq} is due (seconds since the epoch) for a paced run:
        on a fixed schedule from C{start}, so a late event does not push
        every later one back.
        """
        return start + seq / self.rate


class PublishTally(object):
    """What a publisher reports: how much it sent and when."""

    def __init__(self):
        self.published = 0
        self.acked = 0
        self.errors = 0
        self.first_error = None
        self.first_ns = None
        self.last_ns = None
        self.acked_ns = None
        self.capped = False
        self.stopped = False

    def sent(self):
        stamp = now_ns()
        if self.first_ns is None:
            self.first_ns = stamp
        self.last_ns = stamp
        self.published += 1

    def answered(self):
        self.acked += 1
        self.acked_ns = now_ns()

    def failed(self, error):
        self.errors += 1
        if self.first_error is None:
            self.first_error = str(error)[:500]

    def report(self, **extra):
        emit(
            "result",
            published=self.published,
            acked=self.acked,
            errors=self.errors,
            first_error=self.first_error,
            first_ns=self.first_ns,
            last_ns=self.last_ns,
            acked_ns=self.acked_ns,
            capped=self.capped,
            stopped=self.stopped,
            **extra
        )


def run_blocking_publisher(plan, tally, publish_batch, batch=1):
    """
    The publisher's life for a blocking client library (redis-py, Pyro 3):
    report ready, wait for C{go}, call C{publish_batch(seqs)} for C{batch}
    events at a time on a worker thread, and report when done, at the
    runner's C{stop}, or at the deadline, whichever comes first.  The main
    thread does the waiting, so a publish call that blocks (a full queue in
    a blocking server) cannot keep the process from reporting on time.
    """
    go = threading.Event()
    over = threading.Event()

    def command(line):
        if line == "go":
            go.set()
        elif line == "stop":
            tally.stopped = True
            go.set()
            over.set()

    def work():
        try:
            start = time.time()
            seq = 0
            while seq < plan.count and not over.is_set():
                if time.time() >= plan.deadline:
                    tally.capped = True
                    break
                if plan.rate:
                    delay = plan.due(start, seq) - time.time()
                    if delay > 0:
                        time.sleep(delay)  # pacing the workload, not waiting for anyone
                count = min(batch, plan.count - seq)
                publish_batch(range(seq, seq + count))
                seq += count
        except Exception as error:
            tally.failed(repr(error))
        finally:
            over.set()

    watch_commands(command)
    emit("ready")
    go.wait(max(0, plan.deadline - time.time()))
    plan.go()
    if not tally.stopped:
        worker = threading.Thread(target=work, name="publisher")
        worker.daemon = True
        worker.start()
        over.wait(max(0, plan.deadline - time.time()))
        if not over.is_set():
            tally.capped = True
            over.set()
    tally.report()
    sys.stdout.flush()
    os._exit(0)
