"""
Run eventd's side-by-side benchmarks: the workloads W1-W6 against eventd
and, in the same run, against whichever peers are present here (Pyro 3's
Event Server, Redis, NATS), each on its own server on a free loopback port.

    python benchmarks/run.py [--quick] [--workloads W1,W3] [--systems eventd,redis,nats,pyro3] [--json out.json]

Run it with the Python that eventd is installed in.  It prints one line per
step on stderr while it runs, the table on stdout at the end, and writes
every figure to a JSON file.  benchmarks/README.md says what each workload
measures and how to read the table.
"""

import argparse
import datetime
import json
import os
import platform
import signal
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from benchsuite import report, systems, workloads  # noqa: E402
from benchsuite.harness import Processes, load_average  # noqa: E402

BENCHMARKS = os.path.dirname(os.path.abspath(__file__))
WORKLOADS = ("W1", "W2", "W3", "W4", "W5", "W6")


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run of under a minute per system")
    parser.add_argument("--workloads", default=",".join(WORKLOADS), help="comma-separated, e.g. W1,W3 (default: all)")
    parser.add_argument(
        "--systems", default=",".join(systems.ALL), help="comma-separated, from eventd,pyro3,redis,nats (default: all present)"
    )
    parser.add_argument("--json", help="where to write the results (default: benchmarks/results/<time>.json)")
    parser.add_argument("--twistd", help="the twistd that runs eventd (default: the one beside this Python)")
    parser.add_argument(
        "--eventd-publish",
        choices=("publish", "emit"),
        help="how the eventd publisher publishes: answered publishes in a window of 1,000, "
        "or the client's one-way emit() (default: PUBLISH_PATH in clients/eventd_pub.py)",
    )
    options = parser.parse_args(argv)
    options.workloads = {name.strip().upper() for name in options.workloads.split(",") if name.strip()}
    unknown = options.workloads - set(WORKLOADS)
    if unknown:
        parser.error(f"unknown workloads: {', '.join(sorted(unknown))}")
    options.systems = [name.strip().lower() for name in options.systems.split(",") if name.strip()]
    unknown = set(options.systems) - set(systems.ALL)
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    if "eventd" not in options.systems:
        options.systems.insert(0, "eventd")  # the ratios are eventd's
    return options


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def summary(result: dict) -> str:
    """A step's result in a few words, for its progress line."""
    if result.get("error"):
        return "ERROR: " + result["error"].splitlines()[0][:150]
    metrics = result["metrics"]
    parts = []
    for key, label, _ in report.SHOWN[result["workload"]][:4]:
        if metrics.get(key) is not None:
            parts.append(f"{report.number(metrics[key])} {label}")
    return ", ".join(parts)


def available_systems(options) -> tuple[list, dict]:
    chosen, status = [], {}
    for name in options.systems:
        if name == "eventd":
            system = systems.Eventd(options.twistd, options.eventd_publish)
        else:
            system = systems.ALL[name]()
        try:
            system.check()
        except Exception as error:
            status[name] = {"available": False, "reason": str(error)}
            progress(f"{name}: not run: {error}")
            continue
        status[name] = {"available": True, "version": system.version}
        progress(f"{name}: {system.version}")
        chosen.append(system)
    return chosen, status


def run_step(ctx, case, system) -> dict:
    """One case against one system, in a case directory of its own; never raises."""
    log_dir = ctx.case_dir(case, system)
    result = {
        "case": case.name,
        "workload": case.workload,
        "system": system.name,
        "metrics": {},
        "notes": [],
        "details": {},
        "error": None,
        "logs": log_dir,
    }
    started = time.monotonic()
    server = None
    with Processes(log_dir) as procs:
        try:
            outcome = case.run(ctx, procs, system, case)
            server = outcome.details.pop("server", None)
            if server is not None and "server_figures" not in outcome.details:
                figures = system.server_figures(server)
                if figures:
                    outcome.details["server_figures"] = figures
            result.update(metrics=outcome.metrics, notes=outcome.notes, details=outcome.details)
        except Exception as error:
            result["error"] = f"{type(error).__name__}: {error}"
            result["details"]["traceback"] = traceback.format_exc()
            server_logs = [proc.log_path for proc in procs.started if proc.name.endswith(("-server", "-server-0"))]
            if server_logs:
                result["details"]["server_log"] = server_logs[0]
    if server is not None:
        result["details"]["server_log"] = server.proc.log_path
        with open(server.proc.log_path, encoding="utf-8", errors="replace") as log:
            text = log.read()
        signals = {name: len(pattern.findall(text)) for name, pattern in system.log_signals.items()}
        result["details"]["server_log_signals"] = signals
        for name, count in signals.items():
            if count:
                result["notes"].append(f"server log: {count} x {name.replace('_', ' ')}")
    result["seconds"] = round(time.monotonic() - started, 2)
    return result


def shared_run(result: dict, case) -> dict:
    """A fixed-policy peer's W5 result, shown again on the other policy's row."""
    copy = json.loads(json.dumps(result))
    copy["case"] = case.name
    copy["notes"] = [f"the same run as {result['case']}: one policy only"] + result["notes"]
    copy["seconds"] = 0
    return copy


def eventd_revision() -> str:
    """The checkout's commit, marked +dirty if eventd/ has changes: which eventd was measured."""
    project = os.path.dirname(BENCHMARKS)
    try:
        commit = subprocess.run(
            ["git", "-C", project, "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", project, "status", "--porcelain", "--", "eventd"],
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit or "unknown") + ("+dirty" if dirty else "")


def stop_on_sigterm() -> None:
    """
    SIGTERM ends the run as Ctrl-C does: by an exception, so each case's
    processes are stopped on the way out instead of outliving the runner.
    """

    def terminate(signum, frame):
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, terminate)


def main(argv=None) -> int:
    stop_on_sigterm()
    options = parse(argv if argv is not None else sys.argv[1:])
    scale = workloads.QUICK if options.quick else workloads.FULL
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    json_path = os.path.abspath(options.json or os.path.join(BENCHMARKS, "results", f"{stamp}.json"))
    log_root = os.path.splitext(json_path)[0] + "-logs"
    os.makedirs(log_root, exist_ok=True)
    began = time.time()
    load_at_start = load_average()

    chosen, status = available_systems(options)
    if not chosen or chosen[0].name != "eventd":
        progress("eventd cannot run here: " + status["eventd"]["reason"])
        return 2
    ctx = workloads.Context(scale, log_root)
    cases = workloads.cases(scale, options.workloads)
    steps = len(cases) * len(chosen)
    progress(f"{len(cases)} cases x {len(chosen)} systems ({scale.name} scale); logs in {log_root}")

    results = []
    step = 0
    for case in cases:
        for system in chosen:
            step += 1
            if case.workload == "W5" and system.policies is None and case.params["policy"] != "block":
                earlier = next(r for r in results if r["workload"] == "W5" and r["system"] == system.name)
                results.append(shared_run(earlier, case))
                progress(f"[{step}/{steps}] {case.name} {system.name}: the same run as {earlier['case']} (one policy)")
                continue
            progress(f"[{step}/{steps}] {case.name} {system.name} ...")
            result = run_step(ctx, case, system)
            results.append(result)
            progress(f"[{step}/{steps}] {case.name} {system.name}: {summary(result)} ({result['seconds']:.1f} s)")

    names = [system.name for system in chosen]
    table = report.rows(results, names)
    text = report.markdown(table, names)
    notes = [
        f"- {result['case']} {result['system']}: {note}"
        for result in results
        for note in ([f"ERROR {result['error']}"] if result.get("error") else []) + result["notes"]
    ]
    document = {
        "suite": "eventd side-by-side benchmarks",
        "command": " ".join([os.path.basename(sys.executable), "benchmarks/run.py"] + (argv if argv is not None else sys.argv[1:])),
        "scale": scale.__dict__,
        "eventd_publish": options.eventd_publish or "the default of clients/eventd_pub.py",
        "started": datetime.datetime.fromtimestamp(began).isoformat(timespec="seconds"),
        "seconds": round(time.time() - began, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "kernel": platform.release(),
            "python": platform.python_version(),
            "load_average_at_start": load_at_start,
            "load_average_at_end": load_average(),
        },
        "eventd_revision": eventd_revision(),
        "systems": status,
        "results": results,
        "table": table,
        "logs": log_root,
    }
    with open(json_path, "w") as out:
        json.dump(document, out, indent=1, default=str)
    print(text)
    if notes:
        print("\nNotes:")
        print("\n".join(notes))
    not_run = [f"{name}: {info['reason']}" for name, info in status.items() if not info["available"]]
    if not_run:
        print("\nNot run: " + "; ".join(not_run))
    print(f"\nJSON: {json_path} ({document['seconds']:.0f} s)")
    return 1 if any(r["error"] for r in results if r["system"] == "eventd") else 0


if __name__ == "__main__":
    sys.exit(main())
