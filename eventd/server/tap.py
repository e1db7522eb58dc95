"""
The twistd plugin's options and service: C{twistd eventd [options]}.

The same L{Options} and L{makeService} serve the plugin, eventd.tac and
C{python -m eventd}: one code path, three ways in.
"""

import os
from dataclasses import fields
from typing import Mapping, Optional

from twisted.application.service import IService, MultiService
from twisted.internet.endpoints import quoteStringArgument, serverFromString
from twisted.logger import Logger
from twisted.python import usage

from eventd.server.accounts import Accounts
from eventd.server.config import (
    DEFAULT_HEARTBEAT_SECONDS,
    DEFAULT_LISTEN,
    DEFAULT_LOGIN_TIMEOUT_SECONDS,
    DEFAULT_MAX_MESSAGE_BYTES,
    DEFAULT_QUEUE_BYTES,
    DEFAULT_QUEUE_SIZE,
    DEFAULT_READ_TIMEOUT_SECONDS,
    DEFAULT_SEND_BUFFER_BYTES,
    DEFAULT_SHUTDOWN_SECONDS,
    DEFAULT_SLOW_CONSUMER_SECONDS,
    Limits,
    ServerConfig,
    WhenFull,
)
from eventd.server.exposure import exposed_address
from eventd.server.permissions import AccessListError
from eventd.server.security import Security
from eventd.server.users import UsersFileError
from eventd.wire.addresses import DEFAULT_HOST, DEFAULT_PORT
from eventd.wire.arguments import NAMES_PER_CALL
from eventd.wire.secrets import first_line


def _count(name: str, least: int, most: Optional[int] = None):
    """
    A converter for an integer option that must lie between C{least} and
    C{most}.
    """

    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise usage.UsageError(f"--{name} wants a whole number, not {text!r}")
        if value < least:
            raise usage.UsageError(f"--{name} must be at least {least}, not {value}")
        if most is not None and value > most:
            raise usage.UsageError(f"--{name} must be at most {most}, not {value}")
        return value

    return convert


def _seconds(name: str, least: float = 0.0):
    """
    A converter for an option giving a duration in seconds (C{least} or
    more).
    """

    def convert(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise usage.UsageError(f"--{name} wants a number of seconds, not {text!r}")
        if not value >= least:
            raise usage.UsageError(f"--{name} must be {least:g} or more, not {text}")
        return value

    return convert


LIMIT_DESCRIPTIONS = {
    "max_publish_subjects": "Subjects one publish may name",
    "max_publish_bytes": "Bytes of events one publish may make (subjects x message)",
    "max_emit_records": "Publishes one emit box may carry",
    "max_call_names": "Subjects or patterns one subscribe, subscribe-match or "
    "unsubscribe may name",
    "max_pattern_size": "RE2 instructions one compiled pattern may take",
    "max_subscriptions": "Subjects and patterns one connection may hold",
    "max_total_subscriptions": "Subjects and patterns all connections may hold",
    "max_pattern_instructions": "RE2 instructions all distinct patterns may take",
    "max_connections": "Clients connected at once",
    "max_memory_bytes": "Bytes of queued events and unhandled input over all "
    "connections; past it the connection holding the most is disconnected",
}
"""What each of L{Limits}'s fields limits, for its option's help."""


LIMIT_MAXIMA = {"max_publish_subjects": NAMES_PER_CALL, "max_call_names": NAMES_PER_CALL}
"""Limits that cannot be raised past what one AMP list of names carries."""


def _limit_options() -> list[tuple[str, int, str, Optional[int]]]:
    """
    One option per limit: its name, default, help, and highest value.
    """
    return [
        (
            limit.name.replace("_", "-"),
            limit.default,
            LIMIT_DESCRIPTIONS[limit.name],
            LIMIT_MAXIMA.get(limit.name),
        )
        for limit in fields(Limits)
    ]


class Options(usage.Options):
    """
    The server's command line.
    """

    synopsis = "[options]"
    longdesc = (
        "eventd is a publish/subscribe event server, the Pyro 3 Event Server "
        "rebuilt on Twisted. Clients speak AMP; see docs/protocol.md. "
        "Without --listen, -n or -p it listens on "
        f"{DEFAULT_LISTEN} (loopback only)."
    )
    optParameters = [
        ["host", "n", None, f"Address to listen on (Pyro's -n; default {DEFAULT_HOST})."],
        [
            "port",
            "p",
            None,
            f"TCP port to listen on (Pyro's -p; default {DEFAULT_PORT}, 0: any free port).",
            _count("port", 0, 65535),
        ],
        [
            "queue-size",
            None,
            DEFAULT_QUEUE_SIZE,
            "Events each subscriber's queue holds (Pyro's PYRO_ES_QUEUESIZE).",
            _count("queue-size", 1),
        ],
        [
            "queue-bytes",
            None,
            DEFAULT_QUEUE_BYTES,
            "Bytes each subscriber's queue holds; it is full at either bound.",
            _count("queue-bytes", 1),
        ],
        [
            "when-full",
            None,
            WhenFull.BLOCK.value,
            "What a full subscriber queue does: 'block' makes publishers wait "
            "(nothing lost; Pyro's PYRO_ES_BLOCKQUEUE), 'drop' drops new events "
            "for that subscriber only, 'drop-oldest' drops its oldest, "
            "'disconnect' disconnects it. The default for every subscriber and "
            "the limit of what one may ask for: only 'block' allows 'block'.",
        ],
        [
            "slow-consumer-timeout",
            None,
            DEFAULT_SLOW_CONSUMER_SECONDS,
            "Seconds a subscriber's queue may stay full in block mode before the "
            "subscriber is disconnected and its publishers go on.",
            _seconds("slow-consumer-timeout", least=0.001),
        ],
        [
            "heartbeat",
            None,
            DEFAULT_HEARTBEAT_SECONDS,
            "Seconds of silence after which a client is asked for a heartbeat; "
            "one that stays silent as long again is disconnected. 0: no heartbeats.",
            _seconds("heartbeat"),
        ],
        [
            "read-timeout",
            None,
            DEFAULT_READ_TIMEOUT_SECONDS,
            "Seconds a request may take to arrive once begun.",
            _seconds("read-timeout", least=0.001),
        ],
        [
            "max-message-bytes",
            None,
            DEFAULT_MAX_MESSAGE_BYTES,
            "Largest message (encoded payload) a publisher may send, in bytes.",
            _count("max-message-bytes", 1),
        ],
        [
            "send-buffer-bytes",
            None,
            DEFAULT_SEND_BUFFER_BYTES,
            "Kernel send buffer of each connection (SO_SNDBUF), in bytes; "
            "0 leaves the kernel's autotuning alone.",
            _count("send-buffer-bytes", 0),
        ],
        [
            "shutdown-timeout",
            None,
            DEFAULT_SHUTDOWN_SECONDS,
            "On SIGTERM or SIGINT, how many seconds to go on delivering queued "
            "events before closing the connections anyway.",
            _seconds("shutdown-timeout"),
        ],
        *[
            [name, None, default, f"{description} (default {default}).", _count(name, 1, most)]
            for name, default, description, most in _limit_options()
        ],
        [
            "metrics",
            None,
            None,
            "Twisted server endpoint string on which to serve Prometheus metrics "
            "over HTTP at /metrics, e.g. tcp:9766:interface=127.0.0.1 (default: none).",
        ],
        [
            "ident",
            None,
            None,
            "A passphrase every client must give (Pyro's -i). A command line is "
            "visible to every user of the host: prefer --ident-file, or EVENTD_IDENT "
            "for eventd.tac.",
        ],
        [
            "ident-file",
            None,
            None,
            "A file whose first line is the passphrase every client must give.",
        ],
        [
            "users",
            None,
            None,
            "A file of named users and their SCRAM keys, written by 'eventd passwd'; "
            "clients must log in as one. Reread on SIGHUP.",
        ],
        [
            "acl",
            None,
            None,
            "A TOML file of what each user may publish, subscribe to and read "
            "(docs/security.md). Reread on SIGHUP, for open connections too.",
        ],
        [
            "client-ca",
            None,
            None,
            "A PEM file of the CAs that vouch for clients: ssl: ports ask every "
            "client for a certificate, and a verified one's common name is the "
            "client's user.",
        ],
        [
            "login-timeout",
            None,
            DEFAULT_LOGIN_TIMEOUT_SECONDS,
            "Seconds a client may take to log in, where it must.",
            _seconds("login-timeout", least=0.001),
        ],
    ]
    optFlags = [
        [
            "allow-anonymous",
            None,
            "Admit clients that do not log in, even with --ident, --users or "
            "--client-ca; and listen beyond loopback without credentials.",
        ],
        [
            "reuse-port",
            None,
            "Listen on tcp: and tcp6: endpoints (and -p) with SO_REUSEPORT, so that "
            "several eventd processes share one port, the kernel spreading connections "
            "over them (Linux); other endpoints listen as they are.",
        ],
        [
            "require-client-cert",
            None,
            "With --client-ca: refuse, in the TLS handshake, a client that shows no "
            "certificate.",
        ],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["listen"] = []

    def opt_listen(self, endpoint: str) -> None:
        """
        Twisted server endpoint string to listen on (repeatable), e.g.
        tcp:7766:interface=127.0.0.1 or unix:/run/eventd.sock
        """
        self["listen"].append(endpoint)

    def postOptions(self) -> None:
        try:
            self._check()
        except usage.UsageError as error:
            if self.parent is None:
                raise
            # Under twistd, which would print its whole usage to stdout and
            # then the error: one clear line on stderr instead.
            raise SystemExit(f"twistd eventd: {error}") from None

    def _check(self) -> None:
        try:
            self["when-full"] = WhenFull(self["when-full"])
        except ValueError:
            choices = ", ".join(repr(policy.value) for policy in WhenFull)
            raise usage.UsageError(
                f"--when-full must be one of {choices}, not {self['when-full']!r}"
            )
        if self["host"] is not None or self["port"] is not None:
            host = self["host"] or DEFAULT_HOST
            port = DEFAULT_PORT if self["port"] is None else self["port"]
            self["listen"].append(f"tcp:{port}:interface={quoteStringArgument(host)}")
        if not self["listen"]:
            self["listen"] = [DEFAULT_LISTEN]
        self.security = self._security()
        for description in self["listen"]:
            _check_endpoint(
                "--listen", description, self.client_certificates, bool(self["reuse-port"])
            )
        if not (self.security.credentials or self["allow-anonymous"]):
            for description in self["listen"]:
                _check_private(description)
        if self["metrics"] is not None:
            _check_endpoint("--metrics", self["metrics"])
        logfile = self.parent["logfile"] if self.parent is not None else None
        if logfile and logfile != "-":
            _check_writable("--logfile", logfile)

    @property
    def client_certificates(self) -> Optional[tuple[str, bool]]:
        """
        The client CA file and whether a certificate is required, if
        ssl: ports ask clients for certificates.
        """
        if self["client-ca"] is None:
            return None
        return self["client-ca"], bool(self["require-client-cert"])

    def _security(self) -> Security:
        """
        The accounts, access list and admission these options give, read
        from their files now, so that a mistake stops the start with one
        line.
        """
        if self["ident"] and self["ident-file"]:
            raise usage.UsageError("give --ident or --ident-file, not both")
        if self["require-client-cert"] and self["client-ca"] is None:
            raise usage.UsageError("--require-client-cert needs --client-ca")
        ident = self["ident"]
        if self["ident-file"] is not None:
            ident = _read_ident(self["ident-file"])
        try:
            accounts = Accounts(ident, self["users"]) if ident or self["users"] else None
        except (UsersFileError, ValueError) as e:
            raise usage.UsageError(f"--users: {e}") from None
        try:
            return Security(
                accounts,
                self["acl"],
                allow_anonymous=bool(self["allow-anonymous"]),
                client_certificates=self["client-ca"] is not None,
            )
        except AccessListError as e:
            raise usage.UsageError(f"--acl: {e}") from None

    @property
    def config(self) -> ServerConfig:
        """
        The server settings these options give.
        """
        return ServerConfig(
            queue_size=self["queue-size"],
            queue_bytes=self["queue-bytes"],
            when_full=self["when-full"],
            max_message_bytes=self["max-message-bytes"],
            send_buffer_bytes=self["send-buffer-bytes"],
            shutdown_seconds=self["shutdown-timeout"],
            slow_consumer_seconds=self["slow-consumer-timeout"],
            heartbeat_seconds=self["heartbeat"],
            read_timeout_seconds=self["read-timeout"],
            login_timeout_seconds=self["login-timeout"],
            limits=Limits(
                **{
                    name.replace("-", "_"): self[name]
                    for name, *_ in _limit_options()
                }
            ),
        )


def _read_ident(path: str) -> str:
    """
    The passphrase of an --ident-file: its first line.
    """
    try:
        return first_line(path)
    except ValueError as e:
        raise usage.UsageError(f"--ident-file {e}") from None


def _check_private(description: str) -> None:
    """
    Refuse to listen beyond this host without credentials.
    """
    address = exposed_address(description)
    if address is not None:
        raise usage.UsageError(
            f"--listen {description!r} reaches beyond this host ({address}), and "
            "nobody has to log in: give --ident-file, --users or --client-ca, or "
            "--allow-anonymous to admit anybody who can reach the port"
        )


def server_endpoint(
    reactor: object,
    description: str,
    client_certificates: Optional[tuple[str, bool]],
    reuse_port: bool = False,
):
    """
    The endpoint a --listen string names; an ssl: one asks clients for
    certificates if C{client_certificates} (the CA file, and whether one
    is required) says so; with C{reuse_port}, a tcp: or tcp6: one listens
    with SO_REUSEPORT.
    """
    if reuse_port and description.startswith(("tcp:", "tcp6:")):
        from eventd.server.reuseport import reuse_port_endpoint

        return reuse_port_endpoint(reactor, description)
    if client_certificates is not None and description.startswith("ssl:"):
        from eventd.server.tls import tls_server_endpoint

        return tls_server_endpoint(reactor, description, *client_certificates)
    return serverFromString(reactor, description)


def _check_endpoint(
    option: str,
    description: str,
    client_certificates: Optional[tuple[str, bool]] = None,
    reuse_port: bool = False,
) -> None:
    from twisted.internet import reactor

    try:
        server_endpoint(reactor, description, client_certificates, reuse_port)
    except Exception as e:
        reason = str(e) or type(e).__name__
        if description.startswith("systemd:"):
            reason = (
                "no such socket was passed by systemd (check LISTEN_FDS and "
                f"LISTEN_FDNAMES): {reason}"
            )
        raise usage.UsageError(f"{option} {description!r}: {reason}") from None


def _check_writable(option: str, path: str) -> None:
    """
    twistd opens its log file only after the options are parsed, and then
    fails with a traceback: check first.
    """
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise usage.UsageError(f"{option} {path}: no such directory {folder}")
    if not os.access(path if os.path.exists(path) else folder, os.W_OK):
        raise usage.UsageError(f"{option} {path}: not writable")


def makeService(options: Options, reactor: Optional[object] = None) -> IService:
    """
    The event server these options describe, with the services around it.
    The server itself is the child named C{"eventd"}.
    """
    from eventd.server.service import EventService
    from eventd.server.signals import SignalHandling
    from eventd.server.systemd import SystemdNotifier

    if reactor is None:
        from twisted.internet import reactor
    endpoints = [
        server_endpoint(reactor, d, options.client_certificates, bool(options["reuse-port"]))
        for d in options["listen"]
    ]
    top = MultiService()
    # First: the signal handlers must be eventd's before the banner tells
    # whoever started us that we may be stopped.
    if options["ident"] and os.environ.get("EVENTD_IDENT") != options["ident"]:
        Logger().warn(
            "--ident puts the passphrase on the command line, where every user of this "
            "host can read it (ps): use --ident-file, or EVENTD_IDENT for eventd.tac"
        )
    signals = SignalHandling(reactor)
    signals.setServiceParent(top)
    server = EventService(endpoints, options.config, reactor, options.security)
    server.setServiceParent(top)
    signals.on_hangup(server.factory.reload)
    SystemdNotifier(server, reactor).setServiceParent(top)
    if options["metrics"] is not None:
        # Imported only when asked for: prometheus_client's Twisted resource
        # imports the global reactor.
        from eventd.server.metrics import MetricsService

        metrics = serverFromString(reactor, options["metrics"])
        MetricsService(metrics, server.factory.stats, reactor).setServiceParent(top)
    return top


def environment_variables() -> dict[str, str]:
    """
    The EVENTD_* variable of each option that takes a value, for eventd.tac:
    EVENTD_QUEUE_SIZE for --queue-size, and so on.  (EVENTD_LISTEN, for the
    repeatable --listen, is read apart.)
    """
    return {
        "EVENTD_" + name.upper().replace("-", "_"): f"--{name}"
        for name, *_ in Options.optParameters
    }


TRUE = ("1", "yes", "true", "on")
FALSE = ("", "0", "no", "false", "off")
"""How a flag's environment variable says yes or no."""


def environment_flags() -> dict[str, str]:
    """
    The EVENTD_* variable of each flag, for eventd.tac: EVENTD_ALLOW_ANONYMOUS=1
    for --allow-anonymous, and so on.
    """
    return {
        "EVENTD_" + name.upper().replace("-", "_"): f"--{name}"
        for name, *_ in Options.optFlags
    }


def options_from_environment(environ: Mapping[str, str]) -> Options:
    """
    Options from EVENTD_* environment variables, for eventd.tac:
    EVENTD_LISTEN holds endpoint strings separated by whitespace, and every
    other option has the variable named like it (L{environment_variables}).

    @raise usage.UsageError: naming the option, if a value is refused.
    """
    argv = []
    for endpoint in environ.get("EVENTD_LISTEN", "").split():
        argv += ["--listen", endpoint]
    for variable, option in environment_variables().items():
        if variable in environ:
            argv += [option, environ[variable]]
    for variable, flag in environment_flags().items():
        value = environ.get(variable, "").strip().lower()
        if value in TRUE:
            argv.append(flag)
        elif value not in FALSE:
            raise usage.UsageError(f"{variable} must be 1 or 0, not {environ[variable]!r}")
    options = Options()
    options.parseOptions(argv)
    return options
