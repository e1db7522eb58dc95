"""
The table: one row per case and figure, one column per system, and a ratio
column eventd / peer for each peer.
"""

from typing import Optional

# What the table shows of each workload, in order: (key, label, better).
# "better" says which way is good, so a ratio can be read: for "higher", a
# ratio above 1 favours eventd; for "lower", a ratio below 1 does.
SHOWN = {
    "W1": [
        ("deliveries_per_s", "deliveries/s", "higher"),
        ("lost", "lost", "lower"),
        ("cpu_s_per_M", "server CPU s / 1M deliveries", "lower"),
        ("load1", "load average (1 min)", None),
        ("runnable", "runnable tasks (mean)", None),
    ],
    "W2": [
        ("events_per_s", "events/s", "higher"),
        ("lost", "lost", "lower"),
        ("cpu_s_per_M", "server CPU s / 1M deliveries", "lower"),
        ("load1", "load average (1 min)", None),
        ("runnable", "runnable tasks (mean)", None),
    ],
    "W3": [
        ("events_per_s", "events/s", "higher"),
        ("lost", "lost", "lower"),
        ("cpu_s_per_M", "server CPU s / 1M deliveries", "lower"),
        ("load1", "load average (1 min)", None),
        ("runnable", "runnable tasks (mean)", None),
    ],
    "W4": [
        ("p50_ms", "latency p50 ms", "lower"),
        ("p99_ms", "latency p99 ms", "lower"),
        ("max_ms", "latency max ms", "lower"),
        ("lost", "lost", "lower"),
        ("cpu_s_per_M", "server CPU s / 1M deliveries", "lower"),
        ("load1", "load average (1 min)", None),
        ("runnable", "runnable tasks (mean)", None),
    ],
    "W5": [
        ("fast_deliveries_per_s", "fast subscribers' deliveries/s", "higher"),
        ("fast_lost", "fast subscribers' losses", "lower"),
        ("slow_received", "slow subscriber received", None),
        ("published", "accepted before the stop", None),
        ("server_dropped", "dropped by the server", None),
        ("rss_before_mb", "server RSS before, MB", "lower"),
        ("rss_peak_mb", "server RSS peak, MB", "lower"),
        ("rss_after_mb", "server RSS after, MB", "lower"),
        ("cpu_s_per_M", "server CPU s / 1M deliveries", "lower"),
        ("load1", "load average (1 min)", None),
        ("runnable", "runnable tasks (mean)", None),
    ],
    "W6": [
        ("rss_per_conn_kib", "server RSS per connection, KiB", "lower"),
        ("time_to_all_ms", "one event to all, ms", "lower"),
        ("setup_s", "connect + subscribe all, s", "lower"),
        ("lost", "lost", "lower"),
        ("server_cpu_setup_s", "server CPU s for the setup", "lower"),
        ("load1", "load average (1 min)", None),
        ("runnable", "runnable tasks (mean)", None),
    ],
}

ARROWS = {"higher": " ↑", "lower": " ↓", None: ""}


def number(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def ratio(ours, theirs) -> Optional[float]:
    if ours is None or theirs is None or theirs == 0 or ours == 0:
        return None
    return ours / theirs


def rows(results: list[dict], systems: list[str]) -> list[dict]:
    """The table as data: one dict per row, cells keyed by system name."""
    by_case: dict = {}
    order = []
    for result in results:
        if result["case"] not in by_case:
            by_case[result["case"]] = {"workload": result["workload"], "systems": {}}
            order.append(result["case"])
        by_case[result["case"]]["systems"][result["system"]] = result
    table = []
    peers = [name for name in systems if name != "eventd"]
    for case in order:
        entry = by_case[case]
        for key, label, better in SHOWN[entry["workload"]]:
            cells = {}
            for name in systems:
                result = entry["systems"].get(name)
                if result is None:
                    cells[name] = None
                elif result.get("error"):
                    cells[name] = "error"
                else:
                    cells[name] = result["metrics"].get(key)
            row = {"case": case, "metric": key, "label": label + ARROWS[better], "better": better, "values": cells}
            ours = cells.get("eventd")
            row["ratios"] = {
                peer: ratio(ours, cells.get(peer))
                if better and not isinstance(ours, str) and not isinstance(cells.get(peer), str)
                else None
                for peer in peers
            }
            table.append(row)
    return table


def markdown(table: list[dict], systems: list[str]) -> str:
    """The table as Markdown, readable as it is in a terminal."""
    peers = [name for name in systems if name != "eventd"]
    header = ["case", "figure"] + systems + [f"eventd/{peer}" for peer in peers]
    lines = [header]
    for row in table:
        cells = [row["case"], row["label"]]
        for name in systems:
            value = row["values"].get(name)
            cells.append(value if isinstance(value, str) else number(value))
        for peer in peers:
            value = row["ratios"].get(peer)
            cells.append("-" if value is None else f"{value:.2f}")
        lines.append(cells)
    widths = [max(len(str(line[column])) for line in lines) for column in range(len(header))]

    def format_line(cells):
        padded = [
            str(cell).ljust(width) if column < 2 else str(cell).rjust(width)
            for column, (cell, width) in enumerate(zip(cells, widths))
        ]
        return "| " + " | ".join(padded) + " |"

    out = [format_line(lines[0])]
    out.append("|" + "|".join(("-" * (w + 1) + ":") if c >= 2 else "-" * (w + 2) for c, w in enumerate(widths)) + "|")
    out += [format_line(line) for line in lines[1:]]
    return "\n".join(out)
