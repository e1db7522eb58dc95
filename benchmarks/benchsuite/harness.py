"""
The processes the suite starts, and what /proc says about them.

Every process is started here and stopped here, by its own PID: SIGTERM,
then SIGKILL if it has not ended in time.  Nothing is found or stopped by
name.  The runner never sleeps to let a process get somewhere: it waits for
the line the process prints when it is there (a server's banner, a client's
JSON "ready" or "result"), with a timeout.
"""

import json
import os
import queue
import re
import resource
import signal
import socket
import subprocess
import threading
import time
from typing import Callable, Optional

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STOP_SECONDS = 10


class StepFailed(Exception):
    """A step of a case did not happen in time, or a process reported an error."""


def raise_nofile_limit() -> None:
    """
    Raise this process's open-file limit to the hard limit: a server with
    5,000 subscribers, or a client process holding 500 of them, needs more
    than the usual soft limit of 1,024.  Run in each child before exec.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    """
    A loopback TCP port that is free now, for servers that cannot be told
    to pick one themselves and say which (Redis, NATS).  Another process
    could take it before the server binds it; starting the server is then
    retried with another port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3 of proc(5)); utime and stime are 14, 15.
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def _status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def rss_bytes(pid: int) -> int:
    """Resident set size of a process now."""
    return _status_kib(pid, "VmRSS") * 1024


def peak_rss_bytes(pid: int) -> int:
    """The largest resident set size the process has had (VmHWM)."""
    return _status_kib(pid, "VmHWM") * 1024


def socket_count(pid: int) -> int:
    """How many sockets a process holds open: its listening ones plus its connections."""
    count = 0
    fd_dir = f"/proc/{pid}/fd"
    for name in os.listdir(fd_dir):
        try:
            if os.readlink(os.path.join(fd_dir, name)).startswith("socket:"):
                count += 1
        except OSError:
            pass  # closed while we looked
    return count


def load_average() -> list[float]:
    """The 1, 5 and 15 minute load averages."""
    with open("/proc/loadavg") as loadavg:
        return [float(value) for value in loadavg.read().split()[:3]]


def wait_until(condition: Callable[[], bool], seconds: float, interval: float = 0.05) -> bool:
    """
    Check C{condition} every C{interval} until it holds or C{seconds} pass;
    say whether it held.  Only for what gives no line to wait on: a server
    noticing that its clients have gone, seen in /proc.
    """
    end = time.monotonic() + seconds
    while True:
        if condition():
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(interval)


def runnable_tasks() -> int:
    """
    Tasks (threads) runnable on the whole machine right now, from
    /proc/loadavg, not counting the thread that asks.
    """
    with open("/proc/loadavg") as loadavg:
        return int(loadavg.read().split()[3].split("/")[0]) - 1


class Sampler:
    """
    Samples, on a thread while a case runs, a process's RSS and the
    machine's runnable tasks.  L{peak} is the largest RSS (VmHWM would do
    for a fresh server, but not for one that was busier earlier in its
    life); L{runnable} the mean number of runnable tasks, which says how
    crowded the 2 cores were during the case itself (the 1-minute load
    average lags, and carries the previous case over into this one).
    """

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        self.pid = pid
        self.interval = interval
        self.peak = 0
        self._runnable: list[int] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sampler", daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, rss_bytes(self.pid))
            except OSError:
                return
            self._runnable.append(runnable_tasks())
            self._stop.wait(self.interval)

    @property
    def runnable(self) -> Optional[float]:
        return sum(self._runnable) / len(self._runnable) if self._runnable else None

    def start(self) -> "Sampler":
        self._thread.start()
        return self

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(5)
        return self.peak


class Proc:
    """
    A process the suite started.

    A client's stdout carries JSON lines; each is put, with this process,
    on the case's shared inbox, and L{Processes.wait} reads them.  A
    server's stdout and stderr are one stream, searched for its banner.
    Either way every line also goes to a log file, whose path error
    messages name.
    """

    def __init__(
        self,
        name: str,
        argv: list[str],
        log_dir: str,
        inbox: "queue.Queue",
        env: Optional[dict] = None,
        cwd: Optional[str] = None,
        banner: Optional[re.Pattern] = None,
    ) -> None:
        self.name = name
        self.log_path = os.path.join(log_dir, name + ".log")
        self.banner = banner
        self.banner_match: Optional[re.Match] = None
        self._banner_seen = threading.Event()
        self.ready: Optional[dict] = None
        self.result: Optional[dict] = None
        self.ended = False
        self._inbox = inbox
        self._log = open(self.log_path, "w", buffering=1, encoding="utf-8")
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT if banner else self._log,
            env={**os.environ, **(env or {})},
            cwd=cwd or log_dir,
            preexec_fn=raise_nofile_limit,
            text=True,
            encoding="utf-8",
            errors="replace",
            bufsize=1,
        )
        self._reader = threading.Thread(target=self._read, name=name, daemon=True)
        self._reader.start()

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _read(self) -> None:
        for line in self.popen.stdout:
            self._log.write(line)
            if self.banner is not None:
                if self.banner_match is None:
                    match = self.banner.search(line)
                    if match:
                        self.banner_match = match
                        self._banner_seen.set()
                continue
            try:
                message = json.loads(line)
            except ValueError:
                continue
            if isinstance(message, dict) and "event" in message:
                self._inbox.put((self, message))
        self._banner_seen.set()
        self._inbox.put((self, {"event": "_ended"}))

    def wait_banner(self, seconds: float) -> re.Match:
        """The banner's match once the server printed it; StepFailed if it ends or takes too long."""
        if not self._banner_seen.wait(seconds):
            raise StepFailed(f"{self.name}: no banner within {seconds:.0f} s; see {self.log_path}")
        if self.banner_match is None:
            raise StepFailed(f"{self.name} ended before its banner:\n{self.log_tail()}")
        return self.banner_match

    def send(self, command: str) -> None:
        """Write one command line to the process; a process already gone is ignored."""
        try:
            self.popen.stdin.write(command + "\n")
            self.popen.stdin.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_exit(self, seconds: float) -> bool:
        try:
            self.popen.wait(seconds)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self) -> None:
        """
        End the process, by its PID: close its stdin (clients take that as
        "stop"), SIGTERM if it is still there, SIGKILL if SIGTERM is not
        enough within L{STOP_SECONDS}.
        """
        try:
            self.popen.stdin.close()
        except OSError:
            pass
        if self.popen.poll() is None:
            os.kill(self.popen.pid, signal.SIGTERM)
            if not self.wait_exit(STOP_SECONDS):
                os.kill(self.popen.pid, signal.SIGKILL)
                self.wait_exit(STOP_SECONDS)
        self._reader.join(5)
        self._log.close()

    def log_tail(self, lines: int = 15) -> str:
        self._log.flush()
        try:
            with open(self.log_path, encoding="utf-8", errors="replace") as log:
                return "".join(log.readlines()[-lines:])
        except OSError:
            return ""


class Processes:
    """
    The processes of one case, stopped together when it ends (in reverse
    order of starting: clients before their server), and the inbox their
    reports arrive on.
    """

    def __init__(self, log_dir: str) -> None:
        self.log_dir = log_dir
        self.inbox: queue.Queue = queue.Queue()
        self.started: list[Proc] = []

    def __enter__(self) -> "Processes":
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop_all()

    def start(self, name: str, argv: list[str], **options) -> Proc:
        proc = Proc(name, argv, self.log_dir, self.inbox, **options)
        self.started.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.started:
            self.started.remove(proc)

    def stop_all(self) -> None:
        while self.started:
            self.started.pop().stop()

    def wait(self, condition: Callable[[], bool], seconds: float, what: str) -> None:
        """
        Take reports off the inbox until C{condition()} holds.  A client's
        error report, or a client that ends before the condition holds
        without having reported its result, fails the step at once; so
        does the timeout.
        """
        end = time.monotonic() + seconds
        while not condition():
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise StepFailed(f"{what}: not within {seconds:.0f} s")
            try:
                proc, message = self.inbox.get(timeout=remaining)
            except queue.Empty:
                continue
            kind = message["event"]
            if kind == "ready":
                proc.ready = message
            elif kind == "result":
                proc.result = message
            elif kind == "error":
                raise StepFailed(
                    f"{proc.name} failed: {message.get('error')}\n"
                    f"{message.get('traceback', '')}{proc.log_tail()}"
                )
            elif kind == "_ended":
                proc.ended = True
                if proc.result is None and not condition():
                    raise StepFailed(
                        f"{proc.name} ended without a result while waiting for {what}:\n"
                        f"{proc.log_tail()}"
                    )
