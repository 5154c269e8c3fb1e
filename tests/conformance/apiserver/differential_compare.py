"""The differential run's comparator: one step's answers from the real kube-apiserver and the embedded
server, normalised (uids, times, resourceVersion values, allocated addresses, generated names, what
controllers write on their own), compared field by field, each difference tolerated only when a known
difference (``differential_known.KNOWN``) names it, and counted per category for the report."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from apiserver_twin import Answer

UID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The resourceVersions a delete precondition's 409 quotes: each server's own.
PRECONDITION_RV = re.compile(r"(ResourceVersion in the precondition \()\d+(\) does not match [^(]*\()\d+")
POINTER = re.compile(r"(\(\*[\w.]+\))\(0x[0-9a-f]+\)")  # a Go pointer's address in a rendering of a value
GENERATED = re.compile(r"\b(s[0-9]+-[ab]-)[a-z0-9]{5}\b")  # a generateName of the machine's, completed
# What the real control plane's controllers add to a Deployment on their own time (status, revision).
CONTROLLED = ("deployment.kubernetes.io/revision",)
REQUEST_MANAGERS = ("Python", "alice", "bob")  # aiohttp's User-Agent, and the machine's apply managers


@dataclass(frozen=True)
class Step:
    """One request of a sequence, as the report and the known differences see it."""

    category: str  # create, get, list, watch, update, patch-json, …, delete, status, scale
    kind: str
    method: str
    path: str
    body: Any = None
    valid: bool = True  # the body was made to be accepted (an invalid one was made to be refused)

    def describe(self) -> str:
        return f"{self.method} {self.path} {self.body!r}"[:1500]


@dataclass(frozen=True)
class Difference:
    """Where the two normalised answers differ: a path into ``{"status": …, "body": …}``."""

    path: tuple[str | int, ...]
    real: Any
    embedded: Any

    def __str__(self) -> str:
        where = ".".join(str(p) for p in self.path)
        return f"{where}: real {self.real!r:.400} / embedded {self.embedded!r:.400}"


def normalise(answer: Answer, kind: str) -> dict[str, Any]:
    """The answer without what legitimately differs between two servers."""
    return {"status": answer.status, "body": _value(answer.body, kind)}


def _value(value: Any, kind: str) -> Any:
    if isinstance(value, list):
        return [_value(v, kind) for v in value]
    if isinstance(value, str):
        return UID.sub("<uid>", value)
    if not isinstance(value, dict):
        return value
    if value.get("kind") == "Status":
        return _strings(value)
    if "type" in value and "object" in value and len(value) == 2:  # a watch event
        return {"type": value["type"], "object": _watched(value["object"], kind)}
    if isinstance(value.get("items"), list):  # a list
        md = dict(value.get("metadata") or {})
        md.update({k: f"<{k}>" for k in ("resourceVersion", "continue") if k in md})
        return {**value, "metadata": md, "items": [_object(i, kind) for i in value["items"]]}
    return _object(value, kind)


def _strings(value: Any) -> Any:
    """A Status with the uids it quotes replaced."""
    if isinstance(value, dict):
        return {k: _strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_strings(v) for v in value]
    if not isinstance(value, str):
        return value
    value = PRECONDITION_RV.sub(r"\1<rv>\2<rv>", value)
    value = POINTER.sub(r"\1(<address>)", value)
    return GENERATED.sub(r"\1<generated>", UID.sub("<uid>", value))


def _watched(obj: Any, kind: str) -> Any:
    if isinstance(obj, dict) and obj.get("kind") == "Status":
        return _value(obj, kind)
    if isinstance(obj, dict) and obj.get("metadata", {}).get("annotations", {}).get(
        "k8s.io/initial-events-end"
    ):
        return {"bookmark": "initial-events-end"}
    return _object(obj, kind)


def _object(obj: dict[str, Any], kind: str) -> dict[str, Any]:
    out = dict(obj)
    md = dict(out.get("metadata") or {})
    for key, mark in (
        ("uid", "<uid>"),
        ("creationTimestamp", "<time>"),
        ("deletionTimestamp", "<time>"),
        ("resourceVersion", "<rv>"),
    ):
        if md.get(key):
            md[key] = mark
    if md.get("generateName") and md.get("name", "").startswith(md["generateName"]):
        md["name"] = md["generateName"] + "<generated>"
    if md.get("managedFields"):
        # Sorted by manager: the real server sorts an Apply entry without a time first (see KNOWN).
        entries = [_field_entry(e, kind) for e in md["managedFields"] if _ours(e, kind)]
        md["managedFields"] = sorted(
            entries, key=lambda e: (e.get("operation", ""), e.get("manager", ""), e.get("subresource", ""))
        )
    if kind == "Deployment":
        if "annotations" in md:
            md["annotations"] = {k: v for k, v in (md["annotations"] or {}).items() if k not in CONTROLLED}
            if not md["annotations"]:
                del md["annotations"]
        out.pop("status", None)
    if md:
        out["metadata"] = md
    if out.get("kind") == "Scale" and kind == "Deployment":
        out["status"] = {k: v for k, v in (out.get("status") or {}).items() if k != "replicas"}
    if kind == "Service" and isinstance(out.get("spec"), dict):
        out["spec"] = _service_spec(out["spec"])
    return out


def _ours(entry: dict[str, Any], kind: str) -> bool:
    """managedFields entries of the requests, not of a controller's own writes (a Deployment's status
    and revision annotation, written by each server's deployment controller)."""
    return kind != "Deployment" or entry.get("manager") in REQUEST_MANAGERS


def _field_entry(entry: dict[str, Any], kind: str) -> dict[str, Any]:
    out = {**entry, "time": "<time>"} if "time" in entry else dict(entry)
    if kind == "Deployment" and isinstance(out.get("fieldsV1"), dict):
        md = out["fieldsV1"].get("f:metadata", {})
        annotations = md.get("f:annotations", {})
        if any(f"f:{a}" in annotations for a in CONTROLLED):
            annotations = {k: v for k, v in annotations.items() if k[2:] not in CONTROLLED}
            md = (
                {**md, "f:annotations": annotations}
                if annotations
                else {k: v for k, v in md.items() if k != "f:annotations"}
            )
            out["fieldsV1"] = {**out["fieldsV1"], "f:metadata": md}
            if not md:
                del out["fieldsV1"]["f:metadata"]
    return out


def _service_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """Each server allocates its own cluster IPs and node ports."""
    out = dict(spec)
    if out.get("clusterIP") not in (None, "None", ""):
        out["clusterIP"] = "<ip>"
        out["clusterIPs"] = ["<ip>" for _ in out.get("clusterIPs") or []]
    if isinstance(out.get("ports"), list):
        out["ports"] = [
            {**p, "nodePort": "<port>"} if isinstance(p, dict) and "nodePort" in p else p
            for p in out["ports"]
        ]
    return out


def differences(real: Any, embedded: Any, path: tuple[str | int, ...] = ()) -> list[Difference]:
    """Every leaf where the two normalised values differ (lists of unequal length differ as a whole)."""
    if isinstance(real, dict) and isinstance(embedded, dict):
        out = []
        for key in list(real) + [k for k in embedded if k not in real]:
            out += differences(real.get(key, MISSING), embedded.get(key, MISSING), (*path, key))
        return out
    if isinstance(real, list) and isinstance(embedded, list) and len(real) == len(embedded):
        return [
            d
            for i, (r, e) in enumerate(zip(real, embedded, strict=True))
            for d in differences(r, e, (*path, i))
        ]
    if real == embedded:
        return []
    return [Difference(path, real, embedded)]


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


MISSING = _Missing()


def _missing(value: Any) -> Any:
    """``MISSING`` back from a report's JSON (written as its repr)."""
    return MISSING if value == "<missing>" else value


@dataclass
class Report:
    """Steps per category: matched exactly, matched but for known differences, diverged."""

    steps: Counter[str] = field(default_factory=Counter)
    exact: Counter[str] = field(default_factory=Counter)
    tolerated: Counter[str] = field(default_factory=Counter)
    known_used: Counter[str] = field(default_factory=Counter)
    diverged: list[tuple[Step, list[Difference]]] = field(default_factory=list)
    contexts: list[list[str]] = field(default_factory=list)  # each divergence's sequence up to it
    sequences: int = 0
    restarts: int = 0  # a long run's hypothesis runs begun again after a Flaky* (see the long test)
    parts: int = 0  # a long chunk's hypothesis runs begun (each its own seed), for a resumed chunk
    code: str = ""  # the digest of the code a long chunk ran (``code_digest``); merged: the distinct ones

    def table(self) -> str:
        lines = [
            "| category | steps | same | same but for a known difference | unlisted divergence "
            "| match rate |",
            "|---|---|---|---|---|---|",
        ]
        total = Counter[str]()
        for cat in sorted(self.steps):
            bad = sum(1 for s, _ in self.diverged if s.category == cat)
            n = self.steps[cat]
            total.update(steps=n, exact=self.exact[cat], tolerated=self.tolerated[cat], bad=bad)
            lines.append(
                f"| {cat} | {n:,} | {self.exact[cat]:,} | {self.tolerated[cat]:,} | {bad:,} | "
                f"{(n - bad) / n:.2%} |"
            )
        n = total["steps"]
        if n:
            lines.append(
                f"| **all** | {n:,} | {total['exact']:,} | {total['tolerated']:,} | {total['bad']:,} | "
                f"{(n - total['bad']) / n:.2%} |"
            )
        return "\n".join(lines)

    def known_table(self) -> str:
        lines = ["| known difference | steps it was tolerated in |", "|---|---|"]
        lines += [f"| {name} | {count:,} |" for name, count in self.known_used.most_common()]
        return "\n".join(lines)

    def to_json(self) -> str:
        """The counts and the divergences, for ``merged`` (a long run made in several chunks)."""
        diverged = [
            [
                [s.category, s.kind, s.method, s.path, s.body],
                [[list(d.path), d.real, d.embedded] for d in diffs],
            ]
            for s, diffs in self.diverged
        ]
        counts = {k: dict(getattr(self, k)) for k in ("steps", "exact", "tolerated", "known_used")}
        data = {
            "sequences": self.sequences,
            "restarts": self.restarts,
            "parts": self.parts,
            "code": self.code,
            **counts,
            "diverged": diverged,
            "contexts": self.contexts,
        }
        return json.dumps(data, default=repr)

    @classmethod
    def merged(cls, texts: list[str]) -> Report:
        """One report of several chunks' ``to_json``."""
        report = cls()
        codes: list[str] = []
        for text in texts:
            data = json.loads(text)
            report.sequences += data["sequences"]
            report.restarts += data.get("restarts", 0)
            report.parts += data.get("parts", 0)
            codes += [c for c in data.get("code", "").split(",") if c and c not in codes]
            for key in ("steps", "exact", "tolerated", "known_used"):
                getattr(report, key).update(data[key])
            for step, diffs in data["diverged"]:
                report.diverged.append(
                    (Step(*step), [Difference(tuple(p), _missing(r), _missing(e)) for p, r, e in diffs])
                )
            report.contexts += data.get("contexts", [])
        report.code = ",".join(codes)
        return report

    def reclassify(self, explain: Callable[[Step, list[Difference]], list[str] | None]) -> int:
        """Count as tolerated the divergences a known difference listed since explains; how many."""
        kept, contexts, moved = [], [], 0
        padded = self.contexts + [[]] * (len(self.diverged) - len(self.contexts))
        for (step, diffs), context in zip(self.diverged, padded, strict=True):
            names = explain(step, diffs)
            if names is None:
                kept.append((step, diffs))
                contexts.append(context)
                continue
            moved += 1
            self.tolerated[step.category] += 1
            self.known_used.update(set(names))
        self.diverged, self.contexts = kept, contexts
        return moved

    def divergences(self, per_category: int = 3) -> str:
        shown: Counter[str] = Counter()
        out = []
        for step, diffs in self.diverged:
            if shown[step.category] < per_category:
                shown[step.category] += 1
                out.append(f"[{step.category} {step.kind}] {step.describe()}")
                out += [f"    {d}" for d in diffs[:8]]
        return "\n".join(out)
