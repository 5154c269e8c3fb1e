"""A replica's memory by part from the reports ``run.py --probe DIR`` wrote (``memory_probe``): the
table of docs/benchmarks/sharding.md and, with ``--plot``, its stacked bars, so that the page's
figures come from the committed reports and not from hand sums.

``python bench/sharding/by_part.py DIR --floor MIB [--plot PNG]``: one row a replica (reports named
``bench-<N>-<sharded|single>-<apps>-<identity>.json``, the first report of each file: as read, before
gc and ``malloc_trim``). The parts, in MiB: the floor (an idle replica, measured apart); the caches
(stores, indexes and interners of the informers of the replica's share); the own writes' copies; the
sharder's record (its metadata-only watch of every object) and placement; the queues; the Event
series; the TLS read buffers; what pymalloc keeps freed (free blocks in used pools, empty pools) and
glibc keeps freed; the rest (what the walk does not reach: RSS minus all of the above).
"""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

PARTS = ("caches", "own writes", "sharder", "queues", "events", "tls", "pymalloc free", "glibc free", "rest")


def parts(report: dict[str, Any], floor: float) -> dict[str, float]:
    """``report``'s RSS over ``floor`` split into ``PARTS`` (MiB), with ``rss`` and ``apps``."""
    p = report["parts"]
    informers = p["informers"]
    shared = {k: v for k, v in informers.items() if not k.endswith(" meta")}
    record = {k: v for k, v in informers.items() if k.endswith(" meta")}

    def held(of: dict[str, Any]) -> float:
        return float(sum(i["store"] + i["indexes"] + i["interner"] for i in of.values()))

    out = {
        "caches": held(shared),
        "own writes": sum(i["own_writes_mib"] for i in informers.values()),
        "sharder": held(record) + p["sharder_placed"],
        "queues": sum(q["mib"] for q in p["queues"].values()),
        "events": p["event_series_mib"],
        "tls": p["tls_buffers"],
        "pymalloc free": report["pymalloc"]["free_blocks"] + report["pymalloc"]["empty_pools"],
        "glibc free": report["mallinfo"]["fordblks"],
    }
    rss = report["status"]["VmRSS"]
    out["rest"] = rss - floor - sum(out.values())
    apps = max((i["objects"] for k, i in shared.items() if k.startswith("appservices")), default=0)
    return {**out, "rss": rss, "hwm": report["status"]["VmHWM"], "apps": apps}


def rows(directory: Path, floor: float) -> list[tuple[str, dict[str, float], dict[str, Any]]]:
    """(label, parts, report) of every report in ``directory``, by configuration then replica."""
    found = []
    for path in directory.glob("bench-*.json"):
        m = re.fullmatch(r"bench-(\d+)-(sharded|single)-(\d+)-(\w+)\.json", path.name)
        if not m:
            continue
        report = json.loads(path.read_text())[0]
        found.append(((int(m.group(1)), m.group(2), m.group(4)), report))
    found.sort(key=lambda f: f[0])
    return [(f"{n}: {identity}", parts(report, floor), report) for (n, _, identity), report in found]


def table(found: list[tuple[str, dict[str, float], dict[str, Any]]], floor: float) -> str:
    head = (
        "| replica | RSS (high water) | over the floor | caches (kB an app) | own writes' copies | "
        "sharder's record + placement | queues (keys) | Event series (tracked) | TLS read buffers "
        "(connections) | freed, kept by pymalloc + glibc | rest |\n" + "|---" * 11 + "|"
    )
    lines = [head]
    for label, q, report in found:
        p = report["parts"]
        waiting = sum(v["waiting"] for v in p["queues"].values())
        per_app = q["caches"] * 1024 / q["apps"] if q["apps"] else 0.0
        lines.append(
            f"| {label} | {q['rss']:.1f} ({q['hwm']:.1f}) | {q['rss'] - floor:.1f} | {q['caches']:.1f} "
            f"({per_app:.1f}) | {q['own writes']:.1f} | {q['sharder']:.1f} | "
            f"{q['queues']:.1f} ({waiting:,}) | "
            f"{q['events']:.1f} ({p['event_series']:,}) | {q['tls']:.1f} ({p['tls_connections']}) | "
            f"{q['pymalloc free']:.1f} + {q['glibc free']:.1f} | {q['rest']:.1f} |"
        )
    return "\n".join(lines)


def plot(found: list[tuple[str, dict[str, float], dict[str, Any]]], floor: float, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 0.5 * len(found) + 1.5))
    labels = [label for label, _, _ in found]
    left = [floor] * len(found)
    ax.barh(labels, left, color="lightgrey", label="floor (idle replica)")
    for part in PARTS:
        widths = [max(q[part], 0.0) for _, q, _ in found]
        ax.barh(labels, widths, left=left, label=part)
        left = [a + b for a, b in zip(left, widths, strict=True)]
    ax.invert_yaxis()
    ax.set(xlabel="MiB", title="a replica's RSS by part")
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=100)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory", type=Path)
    parser.add_argument("--floor", type=float, required=True, help="an idle replica's RSS (MiB)")
    parser.add_argument("--plot", type=Path, help="write the stacked bars here")
    args = parser.parse_args()
    found = rows(args.directory, args.floor)
    print(table(found, args.floor))
    if args.plot:
        plot(found, args.floor, args.plot)


if __name__ == "__main__":
    main()
