"""
The one table of wire error codes (L{eventd.errors.WIRE_CODES}), the
commands that use it, and docs/protocol.md, which must say the same.
"""

import re

from twisted.protocols import amp
from twisted.trial.unittest import SynchronousTestCase

from eventd.errors import WIRE_CODES, AuthRequired, BadArguments
from eventd.wire import commands
from eventd.wire.commands import GOODBYES
from tests.servers import PROJECT

PROTOCOL = (PROJECT / "docs" / "protocol.md").read_text()

ANSWERED = (
    commands.Login,
    commands.LoginFinal,
    commands.Publish,
    commands.Subscribe,
    commands.SubscribeMatch,
    commands.Unsubscribe,
    commands.Stats,
)


COMMON = {"BAD_ARGUMENTS", "AUTH_REQUIRED"}
"""Codes every command may answer with, said once for all in section 6."""


def section(number: int) -> str:
    """The text of one numbered section of docs/protocol.md."""
    return re.search(rf"^## {number}\. .*?(?=^## )", PROTOCOL, re.S | re.M).group(0)


def codes_in(text: str) -> set[str]:
    """The error codes named in a table cell or a section."""
    return set(re.findall(r"`([A-Z][A-Z_]+)`", text))


class ErrorTableTests(SynchronousTestCase):
    def test_the_protocol_lists_every_code_and_no_other(self):
        table = [line for line in section(11).splitlines() if line.startswith("| `")]
        documented = {codes_in(line.split("|")[1]).pop() for line in table}
        ours = {code.decode() for code in WIRE_CODES.values()}
        amps = {amp.UNHANDLED_ERROR_CODE.decode(), amp.UNKNOWN_ERROR_CODE.decode()}
        self.assertEqual(documented, ours | amps)

    def test_each_command_answers_with_the_codes_its_summary_row_names(self):
        summary = section(6).split("Summary:\n\n")[1].split("\n\n")[0]
        rows = {line.split("|")[2].strip(): line.split("|")[5] for line in summary.splitlines()}
        for command in ANSWERED:
            documented = codes_in(rows[f"`{command.commandName.decode()}`"])
            codes = {code.decode() for code in command.allErrors.values()}
            self.assertEqual(codes - COMMON, documented, command.commandName)

    def test_the_common_codes_are_said_to_be_common(self):
        preface = section(6).split("Summary:")[0]
        for code in COMMON:
            self.assertIn(f"common error `{code}`", preface)

    def test_every_command_has_the_common_codes(self):
        for command in (*ANSWERED, commands.Emit):
            for error in (BadArguments, AuthRequired):
                self.assertEqual(command.allErrors[error], WIRE_CODES[error])

    def test_no_code_is_spelled_outside_the_table(self):
        spelled = []
        for path in (PROJECT / "eventd").rglob("*.py"):
            if path.name == "errors.py":
                continue
            for code in WIRE_CODES.values():
                if code in path.read_bytes():
                    spelled.append(f"{path.relative_to(PROJECT)}: {code.decode()}")
        self.assertEqual(spelled, [])


class GoodbyeTableTests(SynchronousTestCase):
    def test_the_protocol_lists_every_goodbye_code_and_no_other(self):
        goodbye = section(7).split("### Goodbye")[1]
        documented = set()
        for line in goodbye.splitlines():
            if line.startswith("| `"):  # the keys' table names no code
                documented |= codes_in(line.split("|")[1])
        self.assertEqual(documented, set(GOODBYES))
