"""Turn a ``bench/transfer.py`` result file into the Markdown tables of ``bench/RESULTS.md``.

    .venv/bin/python bench/report.py bench/results/transfer.json

Per workload and direction: each client's median time (warm-up excluded), the ratio peer / ours
(above 1.0 means we are faster), our time as a fraction of the ceiling (the best median any client
reached at any concurrency), client and server CPU seconds, and requests per object.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

OURS = "ours"


def medians(rows: list[dict[str, Any]], direction: str) -> dict[str, float]:
    """Median of every measured quantity of one client in one direction."""
    runs = [row[direction] for row in rows]
    objects = rows[0]["objects"]
    return {
        "transfer": statistics.median(run["transfer"] for run in runs),
        "wall": statistics.median(run["wall"] for run in runs),
        "client_cpu": statistics.median(run["client_cpu"] for run in runs),
        "server_cpu": statistics.median(run["server_cpu"] for run in runs),
        "requests": statistics.median(sum(run["requests"].values()) for run in runs) / objects,
        "runs": len(runs),
    }


def table(results: list[dict[str, Any]], workload: str, direction: str) -> list[str]:
    """One Markdown table: every client of a workload in one direction, ours first."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in results:
        if row["workload"] == workload and not row["warmup"]:
            groups.setdefault(row["client"], []).append(row)
    if OURS not in groups:
        return []
    stats = {client: medians(rows, direction) for client, rows in groups.items()}
    ceiling = min(s["transfer"] for s in stats.values())
    best = min(stats, key=lambda client: stats[client]["transfer"])
    ours = stats[OURS]
    lines = [f"#### {workload}, {direction} ({groups[OURS][0]['objects']} objects; ceiling {ceiling:.2f} s by {best}; "
             f"ours = {ceiling / ours['transfer']:.2f} of it)", "",
             "| client | time s | peer / ours | process wall s | wall peer / ours | client CPU s | server CPU s "
             "| requests / object | runs |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for client in sorted(stats, key=lambda c: (c != OURS, stats[c]["transfer"])):
        s = stats[client]
        lines.append(f"| {client} | {s['transfer']:.2f} | {s['transfer'] / ours['transfer']:.2f} | {s['wall']:.2f} | "
                     f"{s['wall'] / ours['wall']:.2f} | {s['client_cpu']:.2f} | {s['server_cpu']:.2f} | "
                     f"{s['requests']:.2f} | {s['runs']} |")
    return [*lines, ""]


def main(path: str) -> None:
    data = json.loads(Path(path).read_text())
    results = data["results"]
    print(f"Command: `{data['command']}` ({data['cpus']} CPUs)\n")
    for workload in dict.fromkeys(row["workload"] for row in results):
        for direction in ("up", "down"):
            print("\n".join(table(results, workload, direction)))


if __name__ == "__main__":
    main(sys.argv[1])
