"""Renders the operator benchmark's results (bench/operator/run.py): docs/benchmarks/operator.md, its
plots (operator_converge.png, operator_rss.png) and the operator section of docs/benchmarks.md."""

from __future__ import annotations

import math
import re
import statistics
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from counting import CROSS_CHECKED
from operators import BURST, QPS

BEGIN, END = "<!-- operator:begin -->", "<!-- operator:end -->"
PHASES = ("converge", "update")
ORDER = ("kubeloop", "controller-runtime", "kopf", "floor")
X, DASH = "\u00d7", "\u2013"  # the multiplication sign and the en dash of the tables
Run = dict[str, Any]
LARGE = "10,000 AppServices"  # the full run's size: a section of its own (measured: --scale; else given)
COLORS = {
    "kubeloop": "tab:blue",
    "controller-runtime": "tab:orange",
    "kopf": "tab:green",
    "floor": "tab:gray",
}


def spread(values: list[float], fmt: str = "{:.1f}") -> str:
    """min / **median** / max of the repetitions."""
    if not values:
        return DASH
    if len(values) == 1:
        return fmt.format(values[0])
    low, mid, high = (fmt.format(v) for v in (min(values), statistics.median(values), max(values)))
    return f"{low} / **{mid}** / {high}"


def per_impl(results: dict[str, Any]) -> dict[str, list[Run]]:
    found: dict[str, list[Run]] = {}
    for r in sorted(results["runs"], key=lambda r: (ORDER.index(r["impl"]), r["rep"])):
        found.setdefault(r["impl"], []).append(r)
    return found


def complete(runs: list[Run]) -> list[Run]:
    """The runs with both the converge and the update storm: those that CPU seconds, peak RSS and
    requests per AppService are taken from (a run of fewer phases, run.py --phases, counts for its
    converge only)."""
    return [r for r in runs if all(p in r for p in PHASES)]


def audited(runs: list[Run]) -> list[Run]:
    """The complete runs whose requests the audit log counted (none were lost to a rotated audit log
    before run.py turned its rotation off: a converge without a request is not a count)."""
    return [r for r in complete(runs) if r["converge"]["requests"]]


def audited_per_impl(results: dict[str, Any]) -> dict[str, list[Run]]:
    return {impl: audited(runs) for impl, runs in per_impl(results).items() if audited(runs)}


def busy_cpu(r: Run) -> float:
    return float(sum(r[p]["cpu_s"] for p in PHASES))


def busy_requests(r: Run) -> Counter[str]:
    total: Counter[str] = Counter()
    for p in PHASES:
        total.update(r[p]["requests"])
    return total


def idle(runs: list[Run]) -> list[Run]:
    """The runs that had the steady state (the last repetition's)."""
    return [r for r in runs if "idle" in r]


def percentile(samples: list[float], q: float) -> float:
    """The q-th percentile, nearest rank (p99 of 30 samples is the largest)."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


def median(runs: list[Run], value: Callable[[Run], float], phase: str = "converge") -> float:
    """The median over the runs that had ``phase`` (NaN when none had it)."""
    values = [value(r) for r in runs if phase in r]
    return float(statistics.median(values)) if values else math.nan


def figures(results: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per implementation, the medians the ratios and goals are taken from."""
    apps = results["config"]["apps"]
    return {
        impl: {
            "converge": median(runs, lambda r: r["converge"]["seconds"]),
            "update": median(runs, lambda r: r["update"]["seconds"], "update"),
            "cpu": median(runs, busy_cpu, "update"),
            "requests": median(audited(runs), lambda r: sum(busy_requests(r).values()) / apps, "update"),
            "idle_requests": max((sum(r["idle"]["requests"].values()) for r in idle(runs)), default=-1),
            "rss": median(runs, lambda r: r["peak_rss"] / 2**20, "update"),
            "p50": median(runs, lambda r: percentile(r["latency"]["samples"], 50) * 1000, "latency"),
            "p99": median(runs, lambda r: percentile(r["latency"]["samples"], 99) * 1000, "latency"),
            "cold_first": median(runs, lambda r: r["cold"]["first_s"], "cold"),
            "cold_synced": median(runs, lambda r: r["cold"]["synced_s"], "cold"),
        }
        for impl, runs in per_impl(results).items()
    }


def goals(
    f: dict[str, dict[str, float]], cpu: str = "CPU seconds (converge + update)", see: str | None = None
) -> list[str]:
    """Each goal of issue 16 that this benchmark measures, met or missed, with the figures; ``cpu``
    names what the CPU seconds cover, ``see`` where a missed goal's reason is (else each its own)."""
    ours = f.get("kubeloop")
    if ours is None:
        return []
    lines = []

    def goal(what: str, key: str, peer: str, limit: float, why_missed: str) -> None:
        if peer not in f:
            lines.append(f"- {what} \u2264 {limit}{X} {peer}'s: not measured (no {peer} run): **open**")
            return
        if math.isnan(ours[key] + f[peer][key]):
            lines.append(f"- {what} \u2264 {limit}{X} {peer}'s: not measured in this run: **open**")
            return
        ratio = ours[key] / f[peer][key] if f[peer][key] else float("inf")
        met = ratio <= limit
        verdict = "**met**" if met else f"**missed**: {f'see {see}' if see else why_missed}"
        digits = 2 if (round(ratio, 2) <= limit) == met else 3  # 0.504 is not "0.50x, missed"
        figures = f"{ratio:.{digits}f}{X} ({ours[key]:.1f} vs {f[peer][key]:.1f})"
        lines.append(f"- {what} \u2264 {limit}{X} {peer}'s: {figures}: {verdict}")

    pacing = "see *Where the time goes* in docs/benchmarks/operator.md"
    goal("converge time", "converge", "kopf", 0.5, pacing)
    goal("converge time", "converge", "controller-runtime", 1.2, pacing)
    goal("converge time", "converge", "floor", 1.5, pacing)
    goal(cpu, "cpu", "kopf", 0.3, "see CPU per AppService in *Where the time goes*; no profile in this run")
    goal(cpu, "cpu", "controller-runtime", 1.5, "Python vs compiled Go")
    goal("API requests per AppService", "requests", "controller-runtime", 1.0, "see the by-verb table")
    idle_requests = ours["idle_requests"]
    if idle_requests >= 0:
        verdict = "**met**" if idle_requests == 0 else "**missed**: see *Steady state*"
        lines.append(f"- idle requests 0: {idle_requests:.0f}: {verdict}")
    return lines


def curves(results: dict[str, Any], path: Path) -> None:
    """The ready AppServices over time, a panel per phase (converge, update storm), every run a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = per_impl(results)
    phases = [p for p in PHASES if any(p in r for r in results["runs"])]
    fig, axes = plt.subplots(1, len(phases), figsize=(5.5 * len(phases), 4), squeeze=False)
    for ax, phase in zip(axes[0], phases, strict=True):
        for impl, runs in groups.items():
            for i, r in enumerate(run for run in runs if phase in run):
                xs, ys = zip(*r[phase]["curve"], strict=True)
                ax.plot(xs, ys, color=COLORS[impl], alpha=0.8, label=impl if i == 0 else None)
        ax.set(
            xlabel="seconds",
            ylabel="AppServices Ready",
            title=f"{phase} ({results['config']['apps']:,} apps)",
        )
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=90)


def plots(results: dict[str, Any], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves(results, out / "operator_converge.png")
    fig, ax = plt.subplots(figsize=(7, 4))
    for impl, runs in per_impl(results).items():
        for i, r in enumerate(runs):
            xs, ys = zip(*r["rss"], strict=True)
            ax.plot(
                xs, [y / 2**20 for y in ys], color=COLORS[impl], alpha=0.8, label=impl if i == 0 else None
            )
    ax.set(
        xlabel="seconds since start",
        ylabel="RSS (MiB)",
        title="RSS over a run (start, converge, update, idle)",
    )
    ax.legend()
    fig.tight_layout()
    fig.savefig(out / "operator_rss.png", dpi=90)


def kopf_reps(c: dict[str, Any]) -> str:
    kopf = c.get("kopf_reps", c["reps"])
    if kopf == 0 and "kopf" not in c.get("impls", ("kopf",)):
        return " (kopf: none)"
    return f" (kopf {kopf})" if kopf < c["reps"] else ""


def header(results: dict[str, Any]) -> str:
    c, load = results["config"], results["load"]
    note = f" {results['note']}" if results.get("note") else ""
    reps = f"{c['reps']} repetition" + ("s" if c["reps"] != 1 else "")
    spaces = c.get("namespaces", 1)  # recorded since session 14; one namespace a run before
    where = f" over {spaces} namespaces (app-i in the (i mod {spaces})-th)" if spaces > 1 else ""
    where = where or " in one namespace"
    # a run made in parts (run.py --merge), each a turn of the lock with its own load: not one run
    parts = re.search(r" in \d+ parts$", results["date"])
    ratios = "ratios compare runs of different turns" if parts else "ratios come from the same run"
    return (
        f"{results['mode']} run of {results['date']}: {c['apps']:,} AppServices{where}, "
        f"{reps}{kopf_reps(c)}, "
        f"{c['idle']:.0f} s steady state, {results['minutes']:.0f} minutes in all; "
        f"{results['machine']}; load average (1 min) over the run "
        f"{load['min']:.1f} / {load['median']:.1f} / {load['max']:.1f} (min / median / max): the machine's "
        f"2 cores were shared with other work, so absolute times are noisy; {ratios}." + note
    )


def main_table(results: dict[str, Any]) -> list[str]:
    apps = results["config"]["apps"]
    rows = [
        "| | converge (s) | update storm (s) | CPU s (converge + update) | peak RSS (MiB) | "
        "requests / AppService |",
        "|---|---|---|---|---|---|",
    ]
    for impl, runs in per_impl(results).items():
        rows.append(
            f"| {impl} | {spread([r['converge']['seconds'] for r in runs])} | "
            f"{spread([r['update']['seconds'] for r in runs if 'update' in r])} | "
            f"{spread([busy_cpu(r) for r in complete(runs)])} | "
            f"{spread([r['peak_rss'] / 2**20 for r in complete(runs)], '{:.0f}')} | "
            f"{spread([sum(busy_requests(r).values()) / apps for r in audited(runs)], '{:.2f}')} |"
        )
    return rows


def scale_table(scale: dict[str, Any]) -> list[str]:
    """The runs at another size (run.py --scale: 10,000 AppServices, an implementation a lock turn),
    a row each, with what each measured; then the ratios of kubeloop's to its peers' (medians)."""
    apps = scale["config"]["apps"]
    rows = [
        "| | converge (s) | of it the harness's creates (s) | operator CPU s (converge) | "
        "requests / AppService (converge) | peak RSS (MiB) | update storm (s) | "
        "cold start: first reconcile / all synced (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for impl, runs in per_impl(scale).items():
        for r in runs:
            converge, cold = r["converge"], r.get("cold")
            acted = f"{converge['act_s']:.1f}" if "act_s" in converge else DASH  # recorded since session 13
            rows.append(
                f"| {impl} | {converge['seconds']:.1f} | {acted} | "
                f"{converge['cpu_s']:.1f} | {sum(converge['requests'].values()) / apps:.2f} | "
                f"{r['peak_rss'] / 2**20:.0f} | "
                + (f"{r['update']['seconds']:.1f}" if "update" in r else DASH)
                + " | "
                + (f"{cold['first_s']:.1f} / {cold['synced_s']:.1f}" if cold else DASH)
                + " |"
            )
    ours = per_impl(scale).get("kubeloop", [])
    ratios = []
    for peer, runs in per_impl(scale).items():
        if peer == "kubeloop" or not ours:
            continue

        def ratio(value: Callable[[Run], float], peer_runs: list[Run] = runs) -> str:
            mine = statistics.median(value(r) for r in ours)
            return f"{mine / statistics.median(value(r) for r in peer_runs):.2f}{X}"

        ratios.append(
            f"- kubeloop / {peer}: converge {ratio(lambda r: r['converge']['seconds'])}, operator CPU "
            f"{ratio(lambda r: r['converge']['cpu_s'])}, requests "
            f"{ratio(lambda r: sum(r['converge']['requests'].values()))}"
        )
    return [*rows, "", *ratios]


def scale_figures(scale: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Per implementation, the medians of the runs at another size that the goals are read from: their
    converge only (no update storm at that size)."""
    apps = scale["config"]["apps"]
    return {
        impl: {
            "converge": median(runs, lambda r: r["converge"]["seconds"]),
            "cpu": median(runs, lambda r: r["converge"]["cpu_s"]),
            "requests": median(runs, lambda r: sum(r["converge"]["requests"].values()) / apps),
            "idle_requests": -1,  # no steady state at that size
        }
        for impl, runs in per_impl(scale).items()
    }


def scale_section(scale: dict[str, Any], level: str = "##", images: str = "") -> list[str]:
    """The section of the runs at another size: its header, table, ratios, curves and notes; ``images``:
    the path from the page to the plots (the summary, docs/benchmarks.md, is a folder above them), where
    the results' ``summary_notes``, if any, stand for their ``notes``."""
    apps = scale["config"]["apps"]
    notes = (images and scale.get("summary_notes")) or scale.get("notes")
    return [
        f"{level} {apps:,} AppServices",
        "",
        header(scale),
        "",
        *scale_table(scale),
        "",
        "Requests per AppService in the converge, by verb (audit log):",
        "",
        *verb_rows(
            {
                impl: [Counter(r["converge"]["requests"]) for r in runs]
                for impl, runs in per_impl(scale).items()
            },
            apps,
        ),
        "",
        f"Goals of issue 16 at {apps:,} (the converge alone):",
        "",
        *goals(scale_figures(scale), "operator CPU seconds (converge)", "the notes below"),
        "",
        f"![ready AppServices over time, {apps:,}]({images}operator_converge_{apps}.png)",
        "",
        *([notes, ""] if notes else []),
    ]


def latency_table(results: dict[str, Any]) -> list[str]:
    """Event -> reconcile latency and the cold start, min / median / max over the repetitions."""
    rows = [
        "| | latency p50 (ms) | latency p99 (ms) | cold start: to first reconcile (s) | to all synced (s) "
        "| CPU s | peak RSS (MiB) |",
        "|---|---|---|---|---|---|---|",
    ]
    for impl, runs in per_impl(results).items():
        lat = [r["latency"]["samples"] for r in runs if "latency" in r]
        cold = [r["cold"] for r in runs if "cold" in r]
        rows.append(
            f"| {impl} | {spread([percentile(x, 50) * 1000 for x in lat], '{:.0f}')} | "
            f"{spread([percentile(x, 99) * 1000 for x in lat], '{:.0f}')} | "
            f"{spread([c['first_s'] for c in cold])} | {spread([c['synced_s'] for c in cold])} | "
            f"{spread([c['cpu_s'] for c in cold], '{:.2f}')} | "
            f"{spread([c['peak_rss'] / 2**20 for c in cold], '{:.0f}')} |"
        )
    return rows


def cross_check_table(results: dict[str, Any]) -> list[str]:
    """The writes on AppServices and Services per AppService (converge + update, median): the audit
    log's count beside kube-apiserver's apiserver_request_total (less the harness's own writes)."""
    apps = results["config"]["apps"]
    groups = audited_per_impl(results)
    cells: dict[str, dict[str, str]] = {}
    for impl, runs in groups.items():
        for key in sorted(
            {k for r in runs for p in PHASES for k in r[p].get("counted", {})}
            | {
                k
                for r in runs
                for k in busy_requests(r)
                if k.split(" ", 1)[1] in CROSS_CHECKED and k.split(" ", 1)[0] in ("create", "patch", "update")
            }
        ):
            audit = statistics.median(busy_requests(r)[key] for r in runs) / apps
            checked = [r for r in runs if all("counted" in r[p] for p in PHASES)]
            per_run = [sum(r[p]["counted"].get(key, 0) for p in PHASES) / apps for r in checked]
            # none in a --concurrent run: the counter cannot tell the operators apart
            counted = f"{statistics.median(per_run):.2f}" if per_run else DASH
            cells.setdefault(key, {})[impl] = f"{audit:.2f} / {counted}"
    rows = ["| verb resource | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
    for key in sorted(cells, key=lambda k: (k.split(" ", 1)[1], k)):
        rows.append(f"| {key} | " + " | ".join(cells[key].get(i, DASH) for i in groups) + " |")
    return rows


def ratio_table(f: dict[str, dict[str, float]]) -> list[str]:
    ours = f.get("kubeloop")
    if ours is None:
        return []
    rows = [
        "| kubeloop \u00f7 | converge | update | CPU s | peak RSS | requests / AppService |",
        "|---|---|---|---|---|---|",
    ]
    for peer, v in f.items():
        if peer == "kubeloop":
            continue
        keys = ("converge", "update", "cpu", "rss", "requests")
        measured = [v[k] and not math.isnan(ours[k] + v[k]) for k in keys]
        cells = [f"{ours[k] / v[k]:.2f}{X}" if ok else DASH for k, ok in zip(keys, measured, strict=True)]
        rows.append(f"| {peer} | " + " | ".join(cells) + " |")
    return rows


def verb_table(results: dict[str, Any]) -> list[str]:
    groups = audited_per_impl(results)
    return verb_rows(
        {impl: [busy_requests(r) for r in runs] for impl, runs in groups.items()}, results["config"]["apps"]
    )


def verb_rows(counts: dict[str, list[Counter[str]]], apps: int) -> list[str]:
    """Requests per AppService by verb and resource, a column per implementation: the median of its
    runs' counts (``counts``, the runs' requests by "verb resource")."""
    groups = {impl: runs for impl, runs in counts.items() if any(runs)}
    medians: dict[str, dict[str, float]] = {}
    for impl, runs in groups.items():
        seen: set[str] = set().union(*runs)
        medians[impl] = {k: statistics.median(r[k] for r in runs) / apps for k in seen}
    keys = sorted(set().union(*medians.values()), key=lambda k: (k.split(" ", 1)[1], k))
    rows = ["| verb resource | " + " | ".join(groups) + " |", "|---|" + "---|" * len(groups)]
    for k in keys:
        rows.append(f"| {k} | " + " | ".join(f"{medians[i].get(k, 0):.2f}" for i in groups) + " |")
    return rows


def idle_table(results: dict[str, Any]) -> list[str]:
    rows = ["| | seconds | CPU s | requests |", "|---|---|---|---|"]
    for impl, runs in per_impl(results).items():
        for r in idle(runs):
            seen = "; ".join(f"{k}: {n}" for k, n in sorted(r["idle"]["requests"].items())) or "none"
            rows.append(f"| {impl} | {r['idle']['seconds']:.0f} | {r['idle']['cpu_s']:.2f} | {seen} |")
    return rows


def budgeted(r: Run) -> float:
    """The converge's requests under the busiest kind's client-side rate limit, Events aside
    (kubeloop's and controller-runtime's have a client and limit of their own): every implementation
    with a limit has one per kind (controller-runtime's client makes a REST client per kind, and
    client-go gives each its own token bucket when rest.Config.RateLimiter is unset, as the scaffold
    leaves it; kubeloop's client, and so the floor, a bucket per kind likewise), a kind's
    subresources under its own."""
    counts: Counter[str] = Counter()
    for key, n in r["converge"]["requests"].items():
        resource = key.split(" ", 1)[1].split("/")[0]
        if resource != "events":
            counts[resource] += n
    return float(max(counts.values(), default=0))


def where(results: dict[str, Any], f: dict[str, dict[str, float]]) -> list[str]:
    """What the medians say about who paces a converge, and CPU per AppService."""
    apps = results["config"]["apps"]
    floor = f.get("floor")
    lines = [
        f"The client-side rate limit ({QPS} requests a second, burst {BURST}; kopf has none) bounds a "
        "converge from below: the requests of the busiest kind while converging (median; each "
        "implementation's limit holds for each kind apart, as client-go's for each REST client; Events "
        "not counted: kubeloop's and controller-runtime's go through a client and limit of their own, the "
        "floor sends none) take at least this long:",
        "",
    ]
    for impl, runs in per_impl(results).items():
        if impl != "kopf":
            sent = median(runs, budgeted)
            least = max(0.0, sent - BURST) / QPS  # the burst at once, then QPS a second
            lines.append(
                f"- {impl}: {sent:,.0f} requests of its busiest kind, \u2265 {least:.0f} s at {QPS} a second "
                f"after a burst of {BURST}; converged in {f[impl]['converge']:.1f} s"
            )
    lines.append("")
    if floor is not None:
        lines.append(
            f"The floor converges {apps:,} AppServices in {floor['converge']:.1f} s (median). Against it:"
        )
        lines.append("")
        for impl, v in f.items():
            if impl != "floor":
                update = f"{v['update'] - floor['update']:+.1f} s" if not math.isnan(v["update"]) else DASH
                lines.append(
                    f"- {impl}: converge {v['converge'] - floor['converge']:+.1f} s, update storm {update}"
                )
        lines.append("")
    lines.append("CPU per AppService (converge + update, median), the framework's own cost beside the work:")
    lines.append("")
    measured = {impl: v for impl, v in f.items() if not math.isnan(v["cpu"])}
    lines += [f"- {impl}: {v['cpu'] / apps * 1000:.1f} ms" for impl, v in measured.items()]
    layers = results.get("profile") or {}
    if layers:
        busy = sum(layers.values())
        lines += [
            "",
            "kubeloop's process by layer: one more kubeloop run, untimed, under cProfile (start, converge, "
            "update storm, latency; cProfile's own overhead inflates Python calls, so read the shares, "
            "not the seconds; waiting in epoll left out):",
            "",
            "| layer | own time (s) | share |",
            "|---|---|---|",
            *(f"| {layer} | {sec:.1f} | {sec / busy:.0%} |" for layer, sec in layers.items() if sec >= 0.05),
        ]
    return lines


def given(section: str, results: dict[str, Any]) -> list[str]:
    """The body a results file gives for a section in place of the generated one (``sections``): a
    run of fewer phases or no steady state shows an earlier run's tables there, saying which."""
    body = results.get("sections", {}).get(section)
    return [body.strip(), ""] if body else []


def titled(level: str, title: str, results: dict[str, Any], section: str | None = None) -> list[str]:
    """A section the results file gives (``sections``) under ``title``; none if it gives none."""
    body = given(section or title, results)
    return [f"{level}{title}", "", *body] if body else []


def page(results: dict[str, Any], f: dict[str, dict[str, float]]) -> str:
    v = results["versions"]
    c = results["config"]
    failed = results.get("failures", [])
    knobs = [f"- **{impl}**: {text}" for impl, text in results["knobs"].items()]
    kopf = f" (kopf: {c['kopf_reps']} of them)" if kopf_reps(c) and c.get("kopf_reps") else ""
    return "\n".join(
        [
            "# Operator benchmark: kubeloop vs controller-runtime vs kopf vs the floor",
            "",
            "The AppService operator (a Deployment of `spec.size` replicas and a NodePort Service per "
            "AppService; status with ready replicas, node ports and the Ready condition) written four ways, "
            "run one after another against the same control plane: etcd, kube-apiserver, "
            "kube-controller-manager, kube-scheduler and kwok nodes (pods reach Running on kwok). "
            "From `bench/operator/run.py` (`make bench-quick`, `make bench`).",
            "",
            header(results),
            "",
            "## Results",
            "",
            f"Cells are min / **median** / max over the repetitions{kopf}.",
            "",
            *main_table(results),
            "",
            "Ratios of the medians (below 1: kubeloop less):",
            "",
            *ratio_table(f),
            "",
            "![ready AppServices over time](operator_converge.png)",
            "",
            "![RSS over time](operator_rss.png)",
            "",
            *(
                # measured (--scale), then what the results give of an earlier try at that size
                [*scale_section(results["scale"]), *titled("### ", f"{LARGE} in one namespace", results)]
                if results.get("scale")
                else titled("## ", LARGE, results)
            ),
            *[f"- **failed**: {e['impl']} repetition {e['rep']}: {e['error'][-300:]}" for e in failed],
            "",
            "## Latency and cold start",
            "",
            *(
                given("Latency and cold start", results)
                or [
                    f"Latency: {c['latency']} changes per run, one at a time (an AppService's "
                    "`spec.ports[0].port`: its Service changes, its pods do not; 0.2 s apart), from the "
                    "harness's patch until its own watch sees the status report the new generation "
                    "(observedGeneration of the Ready condition). Cold start: the operator stopped, the "
                    f"status of the {c['apps']:,} AppServices cleared (their Deployments and Services "
                    "current), a new process started: to the first status written (its first reconcile) "
                    "and to every AppService Ready again (all synced); CPU and peak RSS of the new process "
                    "until then.",
                    "",
                    *latency_table(results),
                    "",
                ]
            ),
            "## Goals of issue 16",
            "",
            *goals(f),
            *(
                results.get("goals_elsewhere")
                or [
                    f"- cache memory per object \u2264 1.0{X} client-go's and framework CPU per no-op "
                    "reconcile \u2264 40 \u00b5s: measured by docs/benchmarks/runtime.md, not by this "
                    "benchmark (see there)."
                ]
            ),
            "",
            "## Where the time goes",
            "",
            *where(results, f),
            "",
            *([results["notes"], ""] if results.get("notes") else []),
            "## API requests per AppService, by verb (converge + update, median)",
            "",
            "Counted by kube-apiserver's audit log (level Metadata, only the four operators' service "
            "accounts; a watch counts when it starts).",
            "",
            *verb_table(results),
            "",
            "Cross-check with kube-apiserver's `apiserver_request_total` (its delta over each phase less "
            "the harness's own writes; the counter has no user label, so only the writes that nothing but "
            "the operator makes: AppServices, their status and Services). Cells: audit log / "
            "apiserver_request_total per AppService.",
            "",
            *cross_check_table(results),
            "",
            "## Steady state",
            "",
            *(
                given("Steady state", results)
                or [
                    "The last repetition's operators, each synced with its AppServices, left running "
                    f"together for {c['idle']:.0f} s without changes (the audit log tells their requests "
                    "apart).",
                    "",
                    *idle_table(results),
                    "",
                ]
            ),
            "## What runs",
            "",
            "- **kubeloop**: `python -m appservice_operator` (examples/appservice as shipped).",
            "- **controller-runtime**: examples/appservice-kubebuilder's manager (CreateOrUpdate of both "
            "children, SetControllerReference, `Status().Update`, the Ready condition via "
            "`meta.SetStatusCondition`, Events), built with the machine's Go and cached.",
            "- **kopf**: examples/appservice-kopf (`kopf run --standalone`; sync handlers with the official "
            "client: create-or-patch, `kopf.adopt`, a status patch; child events reach the owner through "
            "handlers on Deployments and Services).",
            "- **floor**: bench/operator/floor.py, kubeloop's client without a framework: list+watch of "
            "AppServices and Deployments in dicts, server-side apply of both children per new generation, a "
            "status merge patch when it differs. No Events, no metrics, no resync.",
            "",
            "Knobs set alike where the framework has them:",
            "",
            *knobs,
            "",
            "Each run: the operator started in fresh namespaces (one per 1,000 AppServices unless "
            "`--namespaces` says; each implementation watches them all its own way: kubeloop's `--namespace "
            "a,b`, controller-runtime's `cache.Options.DefaultNamespaces` from `WATCH_NAMESPACE=a,b`, kopf's "
            "`--namespace a --namespace b`, the floor a list+watch per namespace) as its own service account "
            "(cluster-admin); "
            "one AppService of size 0 until Ready (warm-up, discarded; *start* below); then "
            f"{c['apps']:,} AppServices of size 1 created at once (50 in flight) until every one is Ready "
            "with 1 ready replica, observedGeneration current, and its Deployment and Service exist "
            "(polled every second: the curves); then `size: 2` patched on all (update storm) until every one "
            "reports 2 ready replicas; then the latency changes and the cold start. The namespaces are "
            "deleted and gone before the next run; the last repetition keeps them for the steady state. "
            "kube-controller-manager runs with `--kube-api-qps=500 --kube-api-burst=1000` so that its own "
            f"client (default 20 QPS) does not pace every implementation alike; {results['nodes']} kwok "
            "nodes. The order of the implementations rotates each repetition.",
            "",
            "Start (process start to the warm-up AppService Ready), seconds: "
            + "; ".join(
                f"{impl} {spread([r['start_s'] for r in runs])}" for impl, runs in per_impl(results).items()
            ),
            "",
            "## Versions",
            "",
            *[f"- {k}: {val}" for k, val in v.items()],
            "",
        ]
    )


def summary_latency(results: dict[str, Any]) -> list[str]:
    """The latency table of the runs, or, when none measured it, the one the results give in its
    place (``sections``), said to be from there."""
    if any("latency" in r for r in results["runs"]) or not given("Latency and cold start", results):
        return latency_table(results)
    rows = [ln for ln in given("Latency and cold start", results)[0].splitlines() if ln.startswith("|")]
    return [
        "Latency and cold start: not measured in these runs; from a turn of their own (the full report says "
        "which, with its load):",
        "",
        *rows,
    ]


def summary(results: dict[str, Any], f: dict[str, dict[str, float]]) -> str:
    return "\n".join(
        [
            BEGIN,
            "## Operator: kubeloop vs controller-runtime vs kopf vs the floor",
            "",
            "From `bench/operator/run.py`: the AppService operator four ways on one control plane with "
            "kube-controller-manager and kwok nodes. " + header(results) + " Full tables, requests by "
            "verb and plots: [benchmarks/operator.md](benchmarks/operator.md).",
            "",
            *main_table(results),
            "",
            *(
                scale_section(results["scale"], "###", "benchmarks/")
                if results.get("scale")
                else titled("### ", LARGE, results, f"{LARGE}, summary")
            ),
            *summary_latency(results),
            "",
            f"Goals of issue 16 at {results['config']['apps']:,}:",
            "",
            *goals(f),
            *([f"- {results['summary_note']}"] if results.get("summary_note") else []),
            END,
        ]
    )


def write_summary(path: Path, section: str) -> None:
    """Put ``section`` between the operator markers of ``path``; the rest is kept."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: section, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n")


def render(results: dict[str, Any], out: Path, summary_path: Path | None) -> None:
    out.mkdir(parents=True, exist_ok=True)
    f = figures(results)
    plots(results, out)
    if results.get("scale"):
        curves(results["scale"], out / f"operator_converge_{results['scale']['config']['apps']}.png")
    (out / "operator.md").write_text(page(results, f))
    print(f"wrote {out / 'operator.md'}")
    if summary_path is not None:
        write_summary(summary_path, summary(results, f))
        print(f"wrote {summary_path}")
