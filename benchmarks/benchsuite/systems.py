"""
The systems the suite compares: for each, whether it can run here, how to
start its server on a free loopback port, and which client scripts (and
which Python) subscribe and publish.

eventd is always the first; the peers are the Pyro 3 Event Server (which
eventd rebuilds), Redis pub/sub and NATS core, each run with the settings
its documentation gives a new user.
"""

import glob
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

from benchsuite.harness import Proc, Processes, StepFailed, free_port

BENCHMARKS = Path(__file__).resolve().parent.parent
CLIENTS = BENCHMARKS / "clients"
PY27_DIR = BENCHMARKS / ".py27"
PY27_SITE = PY27_DIR / "site"
SERVER_START_SECONDS = 30
PYRO_SETUP_SECONDS = 180


@dataclass
class Server:
    """A running server: its process and the address its clients are given."""

    proc: Proc
    uri: str

    @property
    def pid(self) -> int:
        return self.proc.pid


def _which(name: str) -> Optional[str]:
    """A program on PATH, or in the sbin directories a non-root PATH may lack."""
    found = shutil.which(name)
    if found:
        return found
    for directory in ("/usr/sbin", "/usr/local/sbin", "/sbin", "/usr/local/bin"):
        candidate = os.path.join(directory, name)
        if os.access(candidate, os.X_OK):
            return candidate
    return None


def _output(argv: list[str], env: Optional[dict] = None, seconds: float = 30) -> str:
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=seconds,
        env={**os.environ, **(env or {})},
    )
    if done.returncode != 0:
        raise RuntimeError((done.stderr or done.stdout).strip()[-500:])
    return done.stdout.strip()


class System:
    """
    One system under test.  Subclasses fill in the server and the scripts.

    @ivar name: the name on the command line and in the table.
    @ivar policies: the W5 queue policies it can be run with; C{None} means
        it has one fixed behaviour, run once and shown on both W5 rows.
    @ivar conns_per_process: how many subscriber connections one client
        process holds at most in W6.
    @ivar log_signals: name -> regular expression, counted in the server's
        log after each case (slow-consumer disconnects and the like).
    """

    name = ""
    policies: Optional[tuple] = None
    policy_note = ""
    conns_per_process = 500
    log_signals: dict = {}

    def __init__(self) -> None:
        self.version = ""

    def check(self) -> None:
        """Raise with the reason if this system cannot run here; set L{version}."""
        raise NotImplementedError

    def python(self) -> list[str]:
        return [sys.executable]

    def client_env(self, log_dir: str) -> dict:
        return {}

    def start_server(self, procs: Processes, policy: Optional[str] = None) -> Server:
        raise NotImplementedError

    def client_argv(self, role: str, config_path: str) -> list[str]:
        return self.python() + [str(CLIENTS / f"{self.name}_{role}.py"), config_path]

    def _start_on_free_port(
        self, procs: Processes, argv_for: Callable[[int], list[str]], banner: re.Pattern
    ) -> Server:
        """
        Start a server that takes its port on the command line, on a free
        port; a port taken between choosing it and binding it costs another
        try, up to three.
        """
        for attempt in range(3):
            port = free_port()
            proc = procs.start(f"{self.name}-server-{attempt}", argv_for(port), banner=banner)
            try:
                proc.wait_banner(SERVER_START_SECONDS)
                return Server(proc, f"127.0.0.1:{port}")
            except StepFailed:
                procs.stop(proc)
                if attempt == 2:
                    raise

    def subject_pattern(self, index: int) -> str:
        """W3's pattern for the subjects C{bench.pat.<index>.*}, in this system's syntax."""
        raise NotImplementedError

    def server_figures(self, server: Server) -> Optional[dict]:
        """The server's own figures after a case, where it has any to tell."""
        return None

    def publisher_config(self) -> dict:
        """What this system's publisher script is told besides the workload."""
        return {}


class Eventd(System):
    name = "eventd"
    policies = ("block", "drop")
    log_signals = {
        "queue_full_warnings": re.compile(r"queue of .* is full"),
        "tracebacks": re.compile(r"Traceback \(most recent call last\)"),
        "unhandled_errors": re.compile(r"Unhandled [Ee]rror"),
    }
    _banner = re.compile(r"Event Server started\.")

    def __init__(self, twistd: Optional[str] = None, publish_path: Optional[str] = None) -> None:
        super().__init__()
        here = Path(sys.executable).parent
        self.twistd = twistd or str(here / "twistd")
        self.eventd_cli = str(here / "eventd")
        self.publish_path = publish_path

    def publisher_config(self) -> dict:
        # None leaves the choice to the script's PUBLISH_PATH line.
        return {"path": self.publish_path} if self.publish_path else {}

    def check(self) -> None:
        if not os.access(self.twistd, os.X_OK):
            raise RuntimeError(f"no twistd at {self.twistd}: run with the Python eventd is installed in")
        self.version = _output(
            [sys.executable, "-c", "import eventd, twisted; print(eventd.__version__, 'on Twisted', twisted.__version__)"]
        )

    def start_server(self, procs: Processes, policy: Optional[str] = None) -> Server:
        argv = [self.twistd, "-n", "--pidfile=", "eventd", "-p", "0"]
        if policy:
            argv += ["--when-full", policy]
        # twistd puts its working directory on sys.path: start it in the
        # log directory, where no checkout can shadow the installed package.
        proc = procs.start("eventd-server", argv, banner=self._banner)
        proc.wait_banner(SERVER_START_SECONDS)
        uris = re.findall(r"URI= (\S+)", open(proc.log_path).read())
        if not uris:
            raise StepFailed(f"eventd printed no URI= line; see {proc.log_path}")
        return Server(proc, uris[0])

    def subject_pattern(self, index: int) -> str:
        return rf"^bench\.pat\.{index}\..*$"

    def server_figures(self, server: Server) -> Optional[dict]:
        """C{eventd stats --json}: published, delivered, dropped, as the server counts them."""
        try:
            import json

            figures = json.loads(
                _output([self.eventd_cli, "stats", "--json", "--server", server.uri], seconds=20)
            )
        except Exception as error:  # the figures are a cross-check, not the result
            return {"error": str(error)}
        return {key: figures.get(key) for key in ("published", "delivered", "dropped", "connections")}


class Redis(System):
    name = "redis"
    policy_note = (
        "Redis has one policy: it buffers per subscriber up to client-output-buffer-limit "
        "pubsub (32 MB hard, 8 MB for 60 s) and then disconnects it"
    )
    log_signals = {
        "slow_subscribers_disconnected": re.compile(r"overcoming of output buffer limits"),
    }
    _banner = re.compile(r"Ready to accept connections")

    def check(self) -> None:
        self.server_path = _which("redis-server")
        if not self.server_path:
            raise RuntimeError("redis-server is not installed")
        try:
            client = _output([sys.executable, "-c", "import redis; print(redis.__version__)"])
        except Exception:
            raise RuntimeError(f"redis-py is not installed: {sys.executable} -m pip install redis")
        server = _output([self.server_path, "--version"]).split()
        version = next((word[2:] for word in server if word.startswith("v=")), "?")
        self.version = f"redis-server {version}, redis-py {client}"

    def start_server(self, procs: Processes, policy: Optional[str] = None) -> Server:
        return self._start_on_free_port(
            procs,
            lambda port: [
                self.server_path, "--port", str(port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--daemonize", "no",
                "--dir", procs.log_dir,
            ],
            self._banner,
        )

    def subject_pattern(self, index: int) -> str:
        return f"bench.pat.{index}.*"


class Nats(System):
    name = "nats"
    policy_note = (
        "NATS has one policy: the server disconnects a subscriber that cannot take "
        "what it writes (max_pending, write deadline); nats-py buffers what its "
        "callbacks have not handled, up to its pending limits, and drops beyond them"
    )
    log_signals = {
        "slow_consumers": re.compile(r"[Ss]low [Cc]onsumer"),
    }
    _banner = re.compile(r"Server is ready")

    def check(self) -> None:
        self.server_path = _which("nats-server")
        if not self.server_path:
            raise RuntimeError("nats-server is not installed")
        try:
            client = _output(
                [sys.executable, "-c", "import nats.aio.client as c; print(c.__version__)"]
            )
        except Exception:
            raise RuntimeError(f"nats-py is not installed: {sys.executable} -m pip install nats-py")
        server = _output([self.server_path, "--version"])
        self.version = f"{server}, nats-py {client}"

    def start_server(self, procs: Processes, policy: Optional[str] = None) -> Server:
        return self._start_on_free_port(
            procs,
            lambda port: [self.server_path, "-a", "127.0.0.1", "-p", str(port)],
            self._banner,
        )

    def subject_pattern(self, index: int) -> str:
        return f"bench.pat.{index}.>"


def find_python27() -> Optional[str]:
    """
    A Python 2.7 interpreter: $BENCH_PYTHON27, else python2.7 or python2 on
    PATH, else one of pyenv's.
    """
    candidates = [os.environ.get("BENCH_PYTHON27"), shutil.which("python2.7"), shutil.which("python2")]
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/2.7*/bin/python")))
    for candidate in candidates:
        # pyenv's shims are on PATH even where no 2.7 is selected: run each
        # candidate to be sure it is one.
        if candidate and os.access(candidate, os.X_OK):
            try:
                _output([candidate, "-c", "import sys; assert sys.version_info[:2] == (2, 7)"], seconds=20)
            except Exception:
                continue
            return candidate
    return None


class Pyro3(System):
    """
    Pyro 3.16's Event Server and its Publisher/Subscriber classes, under
    Python 2.7.

    Pyro 3 is installed on first use into benchmarks/.py27/site with that
    Python's pip (C{pip install --target}), and put on PYTHONPATH for the
    suite's own processes only.  A virtualenv would isolate no better: Python
    2.7 has no venv module, and today's virtualenv can no longer create 2.7
    environments, so it would mean fetching and pinning an old virtualenv
    as well, for a package that is pure Python and needs nothing else.
    """

    name = "pyro3"
    policies = ("block", "drop")
    # Each subscriber is a Pyro daemon whose request loop select()s, which
    # fails on file descriptors past 1,024: keep each process well below.
    conns_per_process = 250
    log_signals = {"tracebacks": re.compile(r"Traceback \(most recent call last\)")}
    _banner = re.compile(r"Event Server started\.")

    def check(self) -> None:
        self.python27 = find_python27()
        if not self.python27:
            raise RuntimeError(
                "no Python 2.7 found (set BENCH_PYTHON27, or put python2.7 on PATH)"
            )
        if not (PY27_SITE / "Pyro" / "__init__.py").exists():
            self._install()
        self.version = "Pyro " + _output(
            [self.python27, "-c", "import Pyro.constants as c; print(c.VERSION)"],
            env={"PYTHONPATH": str(PY27_SITE)},
        ) + " on " + _output([self.python27, "-c", "import platform; print(platform.python_version())"])

    def _install(self) -> None:
        print(f"setting up Pyro 3 for {self.python27} in {PY27_SITE} (once)", file=sys.stderr)
        PY27_DIR.mkdir(exist_ok=True)
        try:
            _output(
                [
                    self.python27, "-m", "pip", "install", "--disable-pip-version-check",
                    "--no-cache-dir", "--target", str(PY27_SITE), "pyro==3.16",
                ],
                seconds=PYRO_SETUP_SECONDS,
            )
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"installing pyro==3.16 took over {PYRO_SETUP_SECONDS} s; gave up")
        except Exception as error:
            raise RuntimeError(f"cannot install pyro==3.16 with {self.python27} -m pip: {error}")

    def python(self) -> list[str]:
        return [self.python27, "-u"]

    def _env(self, storage: str) -> dict:
        # No .pyc files beside the client scripts.
        return {"PYTHONPATH": str(PY27_SITE), "PYRO_STORAGE": storage, "PYTHONDONTWRITEBYTECODE": "1"}

    def client_env(self, log_dir: str) -> dict:
        # Each Subscriber runs a daemon of its own: on loopback, on a port
        # the OS picks (Pyro would otherwise scan up from 7766, on every
        # interface).
        return {**self._env(log_dir), "PYRO_HOST": "127.0.0.1", "PYRO_PORT": "0"}

    def start_server(self, procs: Processes, policy: Optional[str] = None) -> Server:
        env = self._env(procs.log_dir)
        env["PYRO_ES_BLOCKQUEUE"] = "0" if policy == "drop" else "1"
        argv = self.python() + [
            "-m", "Pyro.EventService.Server", "-N", "-n", "127.0.0.1", "-p", "0",
        ]
        proc = procs.start("pyro3-server", argv, env=env, banner=self._banner)
        proc.wait_banner(SERVER_START_SECONDS)
        uris = re.findall(r"URI= (PYRO://\S+)", open(proc.log_path).read())
        if not uris:
            raise StepFailed(f"Pyro's ES printed no URI= line; see {proc.log_path}")
        return Server(proc, uris[0])

    def subject_pattern(self, index: int) -> str:
        return rf"^bench\.pat\.{index}\..*$"


ALL = {system.name: system for system in (Eventd, Pyro3, Redis, Nats)}
"""Every system, in table order: eventd first."""
