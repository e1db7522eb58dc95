"""
The systemd unit files: what they say, that systemd's own checker accepts
them, and C{eventd systemd-units} and C{eventd service} writing and removing
them.  Nothing here runs the real systemctl: installs go into a temporary
root (C{--root}), and the commands that only call systemctl meet a fake one.
"""

import importlib.util
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Optional, Sequence

from twisted.internet.utils import getProcessOutputAndValue
from twisted.trial.unittest import SynchronousTestCase, TestCase

import eventd
from eventd.cli import unitfiles
from eventd.cli.unitfiles import (
    UNIT_NAMES,
    UnitFileError,
    default_twistd,
    environment_file_text,
    render_units,
)
from tests.servers import PROJECT, ChildProcess, spawn, within

EVENTD = str(Path(sys.executable).parent / "eventd")
THERE = "/opt/eventd/bin/twistd"
"""A twistd path on the machine the units are for (which need not be this one)."""

WAIT = 60
"""Seconds a command may take."""

Unit = dict[str, dict[str, list[str]]]


def parse_unit(text: str) -> Unit:
    """A unit file's settings: section, then key, then every value given."""
    unit: Unit = {}
    section: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = unit.setdefault(line.strip("[]"), {})
        else:
            key, value = line.split("=", 1)
            section.setdefault(key, []).append(value)
    return unit


def temporary_directory(testcase) -> Path:
    path = Path(tempfile.mkdtemp(prefix="eventd-units-"))
    testcase.addCleanup(shutil.rmtree, path, True)
    return path


def executable(path: Path, text: str = "#!/bin/sh\n") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o755)
    return path


class UnitTests(SynchronousTestCase):
    def setUp(self):
        self.units = {name: parse_unit(text) for name, text in render_units(THERE).items()}

    def test_every_unit_is_rendered_and_no_placeholder_is_left(self):
        texts = render_units(THERE)
        self.assertEqual(sorted(texts), sorted(UNIT_NAMES))
        for name, text in texts.items():
            self.assertNotIn("@TWISTD@", text, name)

    def test_exec_start_runs_that_twistd_on_the_socket_systemd_names(self):
        for name in ("eventd.service", "eventd@.service"):
            self.assertEqual(
                self.units[name]["Service"]["ExecStart"],
                [f"{THERE} --nodaemon --pidfile= eventd "
                 "--listen systemd:domain=INET:name=eventd $EVENTD_OPTIONS"],
            )
        for name in ("eventd.socket", "eventd@.socket"):
            self.assertEqual(self.units[name]["Socket"]["FileDescriptorName"], ["eventd"])

    def test_the_service_waits_for_ready_has_a_watchdog_and_is_hardened(self):
        service = {key: values[-1] for key, values in self.units["eventd.service"]["Service"].items()}
        expected = {
            "Type": "notify",
            "NotifyAccess": "main",
            "WatchdogSec": "30",
            "Restart": "on-failure",
            "EnvironmentFile": "-/etc/default/eventd",
            "DynamicUser": "yes",
            "NoNewPrivileges": "yes",
            "ProtectSystem": "strict",
            "ProtectHome": "yes",
            "PrivateTmp": "yes",
            "PrivateDevices": "yes",
            "ProtectKernelTunables": "yes",
            "ProtectKernelModules": "yes",
            "ProtectKernelLogs": "yes",
            "ProtectControlGroups": "yes",
            "RestrictAddressFamilies": "AF_UNIX AF_INET AF_INET6",
            "LockPersonality": "yes",
            "SystemCallFilter": "@system-service",
            "CapabilityBoundingSet": "",
            "UMask": "0077",
            "LimitNOFILE": "65536",
        }
        self.assertEqual({key: service.get(key) for key in expected}, expected)
        self.assertEqual(self.units["eventd.service"]["Unit"]["Requires"], ["eventd.socket"])

    def test_the_socket_listens_on_loopback_port_7766(self):
        self.assertEqual(
            self.units["eventd.socket"]["Socket"],
            {
                "ListenStream": ["127.0.0.1:7766"],
                "FileDescriptorName": ["eventd"],
                "NoDelay": ["yes"],
                "Backlog": ["1024"],
            },
        )

    def test_each_instance_has_its_port_socket_and_options_file(self):
        service = self.units["eventd@.service"]
        self.assertEqual(service["Unit"]["Requires"], ["eventd@%i.socket"])
        self.assertEqual(service["Service"]["EnvironmentFile"], ["-/etc/default/eventd-%i"])
        self.assertEqual(self.units["eventd@.socket"]["Socket"]["ListenStream"], ["127.0.0.1:%i"])

    def test_the_templates_differ_from_the_units_only_in_the_instance(self):
        """
        The templates repeat the units' settings; they must not drift apart
        (a hardening line added to one only, say).
        """
        for unit, template, section, key in [
            ("eventd.service", "eventd@.service", "Service", "EnvironmentFile"),
            ("eventd.socket", "eventd@.socket", "Socket", "ListenStream"),
        ]:
            plain = dict(self.units[unit][section])
            instance = dict(self.units[template][section])
            self.assertNotEqual(plain.pop(key), instance.pop(key))
            self.assertEqual(plain, instance, template)

    def test_a_twistd_the_units_could_not_run_is_refused(self):
        for twistd, words in [
            ("bin/twistd", "not absolute"),
            ("/opt/my eventd/bin/twistd", "quoted"),
            ("/opt/100%/twistd", "quoted"),
            ("/opt/$HOME/twistd", "quoted"),
            ("/home/ann/.venv/bin/twistd", "under /home, which the units' ProtectHome=yes"),
            ("/root/venv/bin/twistd", "under /root"),
            ("/run/user/1000/venv/bin/twistd", "under /run/user"),
        ]:
            error = self.assertRaises(UnitFileError, render_units, twistd)
            self.assertIn(words, str(error))

    def test_by_default_the_twistd_beside_this_python(self):
        bin = temporary_directory(self) / "bin"
        self.patch(sys, "executable", str(bin / "python"))
        error = self.assertRaises(UnitFileError, default_twistd)
        self.assertIn("no twistd beside", str(error))
        twistd = executable(bin / "twistd")
        self.assertEqual(default_twistd(), str(twistd))


class EnvironmentFileTests(SynchronousTestCase):
    def test_each_option_comes_back_whole(self):
        """
        systemd reads the file's double-quoted value as a shell does, then
        splits C{$EVENTD_OPTIONS} into words as a shell would, honouring
        quotes and backslashes (env-file.c, and replace_env_argv() with
        EXTRACT_UNQUOTE).  The quoting uses only what both agree on, so a
        shell sourcing the file and splitting the value gives back what
        systemd hands twistd: here, every option exactly as given.
        """
        options = [
            "--queue-size", "10", "--listen", r"tcp:0:interface=\:\:1",
            "it's", 'say "hi"', "$HOME", "`id`", "two  spaces", "back\\slash\\", "",
            "%i", "ünïcode",
        ]
        path = temporary_directory(self) / "eventd"
        path.write_text(environment_file_text(options))
        split = subprocess.run(
            ["/bin/sh", "-c", '. "$1" && eval "set -- $EVENTD_OPTIONS" && printf "%s\\0" "$@"',
             "sh", str(path)],
            capture_output=True, check=True, env={}, timeout=WAIT,
        ).stdout
        self.assertEqual(split.decode().split("\0")[:-1], options)

    def test_plain_options_stay_plain(self):
        self.assertIn(
            'EVENTD_OPTIONS="--queue-size 10 --when-full drop"\n',
            environment_file_text(["--queue-size", "10", "--when-full", "drop"]),
        )

    def test_a_line_break_is_refused(self):
        error = self.assertRaises(UnitFileError, environment_file_text, ["a\nb"])
        self.assertIn("line break", str(error))


async def run(testcase: TestCase, *args: str, env: Optional[dict] = None) -> ChildProcess:
    """Run C{eventd *args} to its end."""
    process = spawn(testcase, [EVENTD, *args], env=env, process=ChildProcess())
    await within(process.when_ended(), WAIT)
    return process


class SystemdAnalyzeTests(TestCase):
    """
    systemd's own checker on the units as C{eventd service install} writes
    them.  It exits 0 even on warnings such as "Unknown key", so any line on
    stderr fails.  It insists that ExecStart's program exists and is
    executable: a stand-in twistd does, so the check needs no particular
    installation.  On this machine (Debian 12, systemd 252, no systemd
    running) it prints nothing at all for good units: no message is
    excused.
    """

    timeout = 60

    async def setUp(self):
        self.analyze = shutil.which("systemd-analyze")
        if self.analyze is None:
            self.skipTest("needs systemd-analyze (Debian package systemd)")
        self.root = temporary_directory(self)
        self.twistd = executable(self.root / "opt" / "eventd" / "bin" / "twistd")
        installed = await run(
            self, "service", "install", "--root", str(self.root),
            "--twistd", str(self.twistd), "--", "--queue-size", "10",
        )
        self.assertEqual(installed.exit_code, 0, installed.output)
        self.units = self.root / "etc" / "systemd" / "system"

    async def verify(self, units: Path) -> tuple[bytes, bytes, int]:
        # Instance 7767 of each template (systemd finds the template beside it).
        names = ["eventd.service", "eventd.socket", "eventd@7767.service", "eventd@7767.socket"]
        return await getProcessOutputAndValue(
            self.analyze, ["verify", *(str(units / name) for name in names)], path="/"
        )

    async def test_systemd_analyze_verify_accepts_the_units_without_a_word(self):
        out, err, code = await self.verify(self.units)
        self.assertEqual((code, err, out), (0, b"", b""))

    async def test_it_would_speak_up_about_a_bad_setting(self):
        """The control: the check above can fail, on each unit and template."""
        broken = self.root / "broken"
        shutil.copytree(self.units, broken)
        for name in UNIT_NAMES:
            path = broken / name
            path.write_text(path.read_text().replace("\n[Install]\n", "\nBogus=1\n[Install]\n"))
        out, err, code = await self.verify(broken)
        complaints = [line for line in err.decode().splitlines() if "Unknown key 'Bogus'" in line]
        self.assertEqual(
            sorted(line.split(":")[0] for line in complaints),
            sorted(str(broken / name) for name in UNIT_NAMES),
        )


class CommandTests(TestCase):
    """C{eventd systemd-units} and C{eventd service}, as users run them."""

    timeout = 120

    def setUp(self):
        self.root = temporary_directory(self)
        self.units = self.root / "etc" / "systemd" / "system"
        self.options = self.root / "etc" / "default" / "eventd"

    def assertFailsWithOneLine(self, process: ChildProcess, start: str) -> None:
        self.assertEqual(process.exit_code, 1, process.output)
        self.assertEqual(process.stdout, "")
        lines = process.stderr.splitlines()
        self.assertEqual(len(lines), 1, process.stderr)
        self.assertTrue(lines[0].startswith(start), lines[0])

    def assertInstalled(self, twistd: str, options: Sequence[str]) -> None:
        self.assertEqual(
            {path.name: path.read_text() for path in self.units.iterdir()}, render_units(twistd)
        )
        self.assertEqual(self.options.read_text(), environment_file_text(options))

    async def install(self, *args: str) -> ChildProcess:
        return await run(self, "service", "install", "--root", str(self.root), *args)

    async def test_systemd_units_prints_every_unit(self):
        printed = await run(self, "systemd-units", "--twistd", THERE)
        self.assertEqual((printed.exit_code, printed.stderr), (0, ""))
        self.assertEqual(
            printed.stdout,
            "".join(f"### {name}\n{text}\n" for name, text in render_units(THERE).items()),
        )

    async def test_systemd_units_output_writes_them_into_a_directory(self):
        output = self.root / "units"
        written = await run(self, "systemd-units", "--output", str(output), "--twistd", THERE)
        self.assertEqual((written.exit_code, written.stderr), (0, ""))
        self.assertEqual(
            {path.name: path.read_text() for path in output.iterdir()}, render_units(THERE)
        )
        self.assertEqual(
            written.stdout.splitlines(), [f"wrote {output / name}" for name in UNIT_NAMES]
        )

    async def test_install_writes_the_units_and_options_for_the_final_root(self):
        options = ["--queue-size", "10", "--listen", r"tcp:0:interface=\:\:1"]
        installed = await self.install("--twistd", THERE, "--", *options)
        self.assertEqual((installed.exit_code, installed.stderr), (0, ""))
        self.assertInstalled(THERE, options)
        service = parse_unit((self.units / "eventd.service").read_text())
        self.assertEqual(service["Service"]["EnvironmentFile"], ["-/etc/default/eventd"])
        self.assertEqual(
            installed.stdout.splitlines(),
            [f"wrote {self.units / name}" for name in UNIT_NAMES] + [f"wrote {self.options}"],
        )
        for path in [*self.units.iterdir(), self.options]:
            self.assertEqual(stat.S_IMODE(path.stat().st_mode), 0o644, path)

    async def test_install_refuses_to_replace_an_installation(self):
        self.assertEqual((await self.install("--twistd", THERE)).exit_code, 0)
        again = await self.install("--twistd", THERE)
        self.assertFailsWithOneLine(again, "eventd: eventd is already installed in ")

    async def test_update_rewrites_the_units_and_keeps_the_options_unless_given(self):
        self.assertEqual((await self.install("--twistd", THERE, "--", "-p", "1")).exit_code, 0)
        by_hand = 'EVENTD_OPTIONS="--queue-size 7"\n'
        self.options.write_text(by_hand)
        elsewhere = "/srv/eventd/bin/twistd"

        updated = await run(self, "service", "update", "--root", str(self.root),
                            "--twistd", elsewhere)
        self.assertEqual((updated.exit_code, updated.stderr), (0, ""))
        self.assertIn(f"ExecStart={elsewhere} ", (self.units / "eventd.service").read_text())
        self.assertEqual(self.options.read_text(), by_hand)

        updated = await run(self, "service", "update", "--root", str(self.root),
                            "--twistd", elsewhere, "--", "--queue-size", "20")
        self.assertEqual(updated.exit_code, 0, updated.output)
        self.assertInstalled(elsewhere, ["--queue-size", "20"])

    async def test_update_and_remove_need_an_installation(self):
        for action in ("update", "remove"):
            process = await run(self, "service", action, "--root", str(self.root))
            self.assertFailsWithOneLine(process, "eventd: eventd is not installed in ")

    async def test_remove_removes_what_install_wrote_and_nothing_else(self):
        self.assertEqual((await self.install("--twistd", THERE)).exit_code, 0)
        instance_options = self.root / "etc" / "default" / "eventd-7767"
        instance_options.write_text('EVENTD_OPTIONS=""\n')
        other_unit = self.units / "other.service"
        other_unit.write_text("[Service]\nExecStart=/bin/true\n")

        removed = await run(self, "service", "remove", "--root", str(self.root))
        self.assertEqual((removed.exit_code, removed.stderr), (0, ""))
        self.assertEqual(
            removed.stdout.splitlines(),
            [f"removed {self.units / name}" for name in UNIT_NAMES] + [f"removed {self.options}"],
        )
        self.assertEqual(list(self.units.iterdir()), [other_unit])
        self.assertEqual(list(self.options.parent.iterdir()), [instance_options])

    async def test_a_unit_directory_that_cannot_be_written_is_one_line_and_status_1(self):
        # A file where a directory must go stops root as well as anyone.
        (self.root / "etc").mkdir()
        (self.root / "etc" / "systemd").write_text("not a directory")
        installed = await self.install("--twistd", THERE)
        self.assertFailsWithOneLine(installed, f"eventd: cannot make directory {self.units}: ")
        self.assertFalse(self.options.exists())

        written = await run(self, "systemd-units", "--output",
                            str(self.root / "etc" / "systemd"), "--twistd", THERE)
        self.assertFailsWithOneLine(written, "eventd: cannot write into ")

    async def test_a_twistd_under_home_is_one_line_and_status_1(self):
        installed = await self.install("--twistd", "/home/ann/.venv/bin/twistd")
        self.assertFailsWithOneLine(installed, "eventd: twistd /home/ann/.venv/bin/twistd is under /home")
        self.assertFalse(self.units.exists())

    async def test_control_actions_run_systemctl_and_pass_its_status_on(self):
        """
        start, stop, restart and status are systemctl calls: a stand-in
        systemctl, first on PATH, records them and answers with $STATUS.
        """
        bin = self.root / "bin"
        log = self.root / "systemctl.log"
        executable(bin / "systemctl",
                   '#!/bin/sh\nprintf "%s\\n" "$*" >> "$LOG"\nexit "$STATUS"\n')
        env = {"PATH": f"{bin}:{os.environ['PATH']}", "LOG": str(log)}
        for action, status in [("start", 0), ("stop", 0), ("restart", 0), ("status", 3)]:
            process = await run(self, "service", action, env={**env, "STATUS": str(status)})
            self.assertEqual((process.exit_code, process.stderr), (status, ""), action)
        self.assertEqual(
            log.read_text().splitlines(),
            [
                "start eventd.socket eventd.service",
                "stop eventd.socket eventd.service",
                "restart eventd.service",
                "status eventd.socket eventd.service",
            ],
        )

    async def test_control_actions_take_no_root(self):
        process = await run(self, "service", "start", "--root", str(self.root))
        self.assertEqual(process.exit_code, 2, process.output)
        self.assertIn("unrecognized arguments: --root", process.stderr)


class RunningSystemTests(SynchronousTestCase):
    """
    Without --root, the same steps on the running system, which also tell
    systemd: here with the root still a temporary directory and systemctl
    a recorder, so that the real one is never called.
    """

    def setUp(self):
        self.root = temporary_directory(self)
        self.calls: list[tuple[str, ...]] = []
        self.answer = 0
        self.patch(unitfiles, "_refresh_plugin_cache", lambda: self.calls.append(("refresh",)))

    def systemctl(self, arguments: Sequence[str]) -> int:
        self.calls.append(tuple(arguments))
        return self.answer

    def test_install_update_and_remove_tell_systemd(self):
        unitfiles.install(self.root, THERE, [], self.systemctl)
        unitfiles.update(self.root, THERE, [], self.systemctl)
        unitfiles.remove(self.root, self.systemctl)
        self.assertEqual(
            self.calls,
            [
                ("refresh",),  # the plugin cache the hardened server cannot write
                ("daemon-reload",),
                ("enable", "eventd.socket"),
                ("refresh",),
                ("daemon-reload",),
                ("try-restart", "eventd.service"),
                ("disable", "--now", "eventd.socket", "eventd.service"),
                ("daemon-reload",),
            ],
        )

    def test_a_failing_systemctl_is_one_line(self):
        self.answer = 1
        error = self.assertRaises(
            UnitFileError, unitfiles.install, self.root, THERE, [], self.systemctl
        )
        self.assertEqual(str(error), "`systemctl daemon-reload` failed (exit status 1)")

    def test_control_asks_systemctl(self):
        self.answer = 3
        self.assertEqual(unitfiles.control("status", self.systemctl), 3)
        self.assertEqual(self.calls, [("status", "eventd.socket", "eventd.service")])


class PackagingTests(TestCase):
    timeout = 180

    async def test_the_wheel_ships_the_unit_files(self):
        if importlib.util.find_spec("hatchling") is None:
            self.skipTest("building a wheel offline needs hatchling installed beside pytest")
        wheels = temporary_directory(self)
        out, err, code = await getProcessOutputAndValue(
            sys.executable,
            ["-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
             "-w", str(wheels), str(PROJECT)],
            env=dict(os.environ), path=str(wheels),
        )
        self.assertEqual(code, 0, err)
        [wheel] = wheels.glob("eventd-*.whl")
        with zipfile.ZipFile(wheel) as archive:
            names = set(archive.namelist())
        for name in UNIT_NAMES:
            self.assertIn(f"eventd/cli/units/{name}", names)
        self.assertIn("twisted/plugins/eventd_plugin.py", names)
        self.assertFalse({"twisted/__init__.py", "twisted/plugins/__init__.py"} & names)
        for page in ("man1/eventd.1", "man8/eventd.8"):
            self.assertIn(f"eventd-{eventd.__version__}.data/data/share/man/{page}", names)
