"""
The package's layout as a rule: imports point inward.

  - What both sides share (eventd.errors, eventd.codecs, eventd.event and
    eventd.wire) imports nothing else of eventd's.
  - The server (eventd.server) and the Twisted client (eventd.client) each
    import only the shared modules and their own; never each other.
  - The outer rings, the blocking clients (eventd.blocking) and the command
    (eventd.cli), build on both halves and are imported by neither.
  - Inside the server, every module has a rank in L{SERVER_RANKS}, and
    imports only modules of a lower rank: the broker knows nothing of
    connections, the protocol nothing of the service around it.

Every C{import} statement counts, also those inside functions.
"""

import ast
from pathlib import Path
from typing import Iterable, Iterator

from twisted.trial.unittest import SynchronousTestCase

from tests.servers import PROJECT

SHARED = ("eventd.errors", "eventd.codecs", "eventd.event", "eventd.wire")

MAY_IMPORT = {
    "shared": {"shared"},
    "server": {"shared", "server"},
    "client": {"shared", "client"},
    "blocking": {"shared", "client", "server", "blocking"},
    "cli": {"shared", "client", "server", "cli"},
    "top": {"top"},
}
"""Which parts each part may import."""

SERVER_RANKS = {
    "config": 0,
    "interfaces": 0,
    "patterns": 0,
    "memory": 0,
    "counters": 0,
    "stalls": 0,
    "logbudget": 0,
    "users": 0,
    "permissions": 0,
    "throttle": 0,
    "tls": 0,
    "exposure": 0,
    "reuseport": 0,
    "accounts": 1,
    "broker": 1,
    "queues": 1,
    "boxes": 1,
    "logfiles": 1,
    "portal": 2,
    "fanout": 2,
    "security": 3,
    "login": 3,
    "stats": 2,
    "responders": 4,
    "protocol": 5,
    "listening": 5,
    "service": 6,
    "signals": 7,
    "systemd": 7,
    "metrics": 7,
    "logs": 7,
    "tap": 8,
    "__init__": 9,
}
"""The server's modules, innermost first; a module imports lower ranks only."""


def part_of(module: str) -> str:
    """
    Which part of the package a module (or package) belongs to.
    """
    if any(module == shared or module.startswith(shared + ".") for shared in SHARED):
        return "shared"
    for part in ("server", "client", "blocking", "cli"):
        if module == f"eventd.{part}" or module.startswith(f"eventd.{part}."):
            return part
    return "top"


def server_rank(module: str) -> int:
    """
    The rank of a server module; the package itself ranks last.
    """
    name = module.removeprefix("eventd.server").lstrip(".") or "__init__"
    return SERVER_RANKS[name.split(".")[0]]


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_edges(root: Path) -> Iterator[tuple[str, str]]:
    """
    Every (importer, imported) pair of eventd modules under C{root}.
    """
    for path in sorted((root / "eventd").rglob("*.py")):
        importer = module_name(path, root)
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level:
                raise AssertionError(f"{importer}: relative import; write it in full")
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for imported in names:
                if imported == "eventd" or imported.startswith("eventd."):
                    yield importer, imported


def wrong_way(edges: Iterable[tuple[str, str]]) -> list[str]:
    """
    The edges that break the layout, each as a line saying why.
    """
    wrong = []
    for importer, imported in edges:
        source, target = part_of(importer), part_of(imported)
        if target not in MAY_IMPORT[source]:
            wrong.append(f"{importer} ({source}) imports {imported} ({target})")
        elif source == target == "server" and server_rank(imported) >= server_rank(
            importer
        ):
            wrong.append(
                f"{importer} (rank {server_rank(importer)}) imports "
                f"{imported} (rank {server_rank(imported)})"
            )
    return wrong


class LayoutTests(SynchronousTestCase):
    def test_every_import_points_inward(self):
        edges = list(import_edges(PROJECT))
        self.assertGreater(len(edges), 50)
        self.assertEqual(wrong_way(edges), [])

    def test_every_server_module_has_a_rank(self):
        modules = {path.stem for path in (PROJECT / "eventd" / "server").glob("*.py")}
        self.assertEqual(modules, set(SERVER_RANKS))

    def test_a_client_importing_the_server_is_caught(self):
        edge = ("eventd.client.handlers", "eventd.server.broker")
        self.assertEqual(len(wrong_way([edge])), 1)

    def test_the_shared_modules_importing_a_side_is_caught(self):
        edge = ("eventd.wire.commands", "eventd.client.connection")
        self.assertEqual(len(wrong_way([edge])), 1)

    def test_the_broker_importing_the_protocol_is_caught(self):
        edge = ("eventd.server.broker", "eventd.server.protocol")
        self.assertEqual(wrong_way([edge]), [
            "eventd.server.broker (rank 1) imports eventd.server.protocol (rank 5)"
        ])

    def test_a_server_module_importing_its_own_package_is_caught(self):
        edge = ("eventd.server.protocol", "eventd.server")
        self.assertEqual(len(wrong_way([edge])), 1)

    def test_the_outer_rings_may_use_both_halves(self):
        edges = [
            ("eventd.blocking.starter", "eventd.server.service"),
            ("eventd.blocking.connection", "eventd.client"),
            ("eventd.cli.stats", "eventd.client"),
        ]
        self.assertEqual(wrong_way(edges), [])


class WhereThingsAreTests(SynchronousTestCase):
    def test_the_readme_names_every_module(self):
        readme = (PROJECT / "README.md").read_text()
        table = readme.split("## Where things are", 1)[1]
        missing = [
            str(path.relative_to(PROJECT))
            for path in (PROJECT / "eventd").rglob("*.py")
            if path.name != "__init__.py"
            and f"`{path.name}`" not in table
            and f"`{path.relative_to(PROJECT)}`" not in table
        ]
        self.assertEqual(missing, [])
