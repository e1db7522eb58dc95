"""
The man pages: they lint clean, and they name every option there is.
"""

import re
import shutil
import subprocess
import sys
from argparse import ArgumentParser, _SubParsersAction
from pathlib import Path

from twisted.trial.unittest import SynchronousTestCase

from eventd import cli
from tests.servers import PROJECT

MAN = PROJECT / "man"


def long_options(text: str) -> set[str]:
    """The --options a page or a help text names (roff escapes its dashes)."""
    return set(re.findall(r"--([a-z][a-z-]*)", text.replace("\\-", "-")))


def parsers(parser: ArgumentParser):
    """A parser and all its subcommands' parsers, however deep."""
    yield parser
    for action in parser._actions:
        if isinstance(action, _SubParsersAction):
            for child in action.choices.values():
                yield from parsers(child)


class LintTests(SynchronousTestCase):
    def test_pages_pass_mandoc_lint(self):
        if shutil.which("mandoc") is None:
            self.skipTest("mandoc is not installed (.ci/run installs it)")
        result = subprocess.run(
            ["mandoc", "-T", "lint", "-W", "warning", str(MAN / "eventd.1"), str(MAN / "eventd.8")],
            capture_output=True,
            text=True,
        )
        self.assertEqual((result.returncode, result.stdout + result.stderr), (0, ""))


class DriftTests(SynchronousTestCase):
    def test_every_server_option_is_in_eventd_8(self):
        help_text = subprocess.run(
            [str(Path(sys.executable).parent / "twistd"), "eventd", "--help"],
            capture_output=True,
            text=True,
            check=True,
            cwd="/",
        ).stdout
        options = long_options(help_text) - {"help", "version"}
        self.assertGreaterEqual(options, {"listen", "queue-size", "when-full", "metrics"})
        self.assertEqual(options - long_options((MAN / "eventd.8").read_text()), set())

    def test_every_command_line_option_is_in_eventd_1(self):
        options = {
            option.lstrip("-")
            for parser in parsers(cli.build_parser())
            for action in parser._actions
            for option in action.option_strings
            if option.startswith("--")
        }
        self.assertGreaterEqual(options, {"server", "match", "count", "format", "json"})
        self.assertEqual(options - long_options((MAN / "eventd.1").read_text()), set())

    def test_every_subcommand_is_in_eventd_1(self):
        page = (MAN / "eventd.1").read_text().replace("\\-", "-")
        for name in ("pub", "sub", "stats", "systemd-units", "service"):
            self.assertIn(f".B eventd {name}", page)

