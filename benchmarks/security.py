"""
What logging in and the access list cost: one twistd server per mode (open,
--ident-file, --ident-file with --acl), each on a free loopback port, and
for each the rate of connections made and logged in one after another, of
answered publishes, and of emitted events reaching a C{.*} subscriber.

    python benchmarks/security.py [--connections 300] [--events 20000]

Run it with the Python that eventd is installed in.  Every secret is made
for the run, in a temporary folder removed at the end.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

from twisted.internet.defer import Deferred
from twisted.internet.task import react

from eventd.client import connect

PASSPHRASE = "a passphrase made for this run"

ACL = """
[users.ident]
publish = { allow = ["bench\\\\..*"] }
subscribe = { allow = ["bench\\\\.[a-m].*"], deny = ["bench\\\\.secret.*"] }
"""

START_SECONDS = 30
ROUNDS = 2


def start_server(folder: str, *options: str) -> tuple[subprocess.Popen, str]:
    twistd = os.path.join(os.path.dirname(sys.executable), "twistd")
    server = subprocess.Popen(
        [twistd, "-n", "--pidfile=", "eventd", "-p", "0", *options],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=folder,
    )
    deadline, output = time.monotonic() + START_SECONDS, ""
    while "Event Server started." not in output:
        line = server.stdout.readline()
        if not line or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"the server did not start:\n{output}")
        output += line
    return server, re.search(r"URI= (\S+)", output).group(1)


async def measure(reactor, uri: str, login: dict, acl: bool, connections: int, events: int) -> dict:
    started = time.perf_counter()
    for _ in range(connections):
        client = await connect(uri, reactor, **login)
        await client.close()
    connect_rate = connections / (time.perf_counter() - started)

    publisher = await connect(uri, reactor, **login)
    subscriber = await connect(uri, reactor, **login)
    answered = events // 10
    # Under the access list the subscriber may read bench.a, not bench.z.
    expected = answered + (events // 2 if acl else events)
    got, done = [0], Deferred()

    def received(event) -> None:
        got[0] += 1
        if got[0] == expected:
            done.callback(None)

    await subscriber.subscribe_match(".*", received)
    started = time.perf_counter()
    for n in range(answered):
        await publisher.publish("bench.answered", n)
    publish_rate = answered / (time.perf_counter() - started)
    started = time.perf_counter()
    for n in range(events):
        waited = publisher.emit("bench.z" if n % 2 else "bench.a", n)
        if waited is not None:
            await waited
    await done.addTimeout(120, reactor)
    emit_rate = events / (time.perf_counter() - started)
    await publisher.close()
    await subscriber.close()
    return {"connect+login/s": connect_rate, "publish/s": publish_rate, "emit to .* /s": emit_rate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=300)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    folder = tempfile.mkdtemp(prefix="eventd-bench-security-")
    servers = []
    try:
        ident = os.path.join(folder, "ident")
        acl = os.path.join(folder, "acl.toml")
        for path, text in ((ident, PASSPHRASE + "\n"), (acl, ACL)):
            with open(path, "w") as file:
                file.write(text)
            os.chmod(path, 0o600)
        modes = [
            ("open", (), {}, False),
            ("--ident-file", ("--ident-file", ident), {"ident": PASSPHRASE}, False),
            ("--ident-file --acl", ("--ident-file", ident, "--acl", acl), {"ident": PASSPHRASE}, True),
        ]
        uris = []
        for _, options, _, _ in modes:
            server, uri = start_server(folder, *options)
            servers.append(server)
            uris.append(uri)
        rows = []

        async def run(reactor):
            # Two rounds over the modes, the best of each figure kept: the
            # first round also warms up the client and the servers.
            best: dict[str, dict[str, float]] = {}
            for _ in range(ROUNDS):
                for (name, _, login, limited), uri in zip(modes, uris):
                    figures = await measure(reactor, uri, login, limited, args.connections, args.events)
                    kept = best.setdefault(name, figures)
                    for key, value in figures.items():
                        kept[key] = max(kept[key], value)
            rows.extend(best.items())

        try:
            react(run)
        except SystemExit as stop:
            if stop.code:
                raise
        print(f"{'mode':<22}" + "".join(f"{key:>18}" for key in rows[0][1]))
        for name, figures in rows:
            print(f"{name:<22}" + "".join(f"{value:>18,.0f}" for value in figures.values()))
    finally:
        for server in servers:
            server.terminate()
            server.wait(30)
        shutil.rmtree(folder, True)


if __name__ == "__main__":
    main()
