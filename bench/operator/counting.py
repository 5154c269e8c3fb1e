"""Who asked kube-apiserver for what during the operator benchmark (bench/operator/run.py): its audit
log, per service account (one per implementation), and its own ``apiserver_request_total`` counter,
which has no user label and so only cross-checks the writes that nothing but the operator makes."""

from __future__ import annotations

import datetime
import json
import re
import time
from collections import Counter
from pathlib import Path

from kubeloop.testing import Kubectl

# The writes on resources only the operator under test writes (the harness's own are subtracted):
# kube-controller-manager also writes Deployments and Events, so those are left to the audit log.
CROSS_CHECKED = ("appservices", "appservices/status", "services")
# The counter's verbs are the HTTP ones (APPLY: a server-side apply PATCH), the audit log's the API's;
# deletes are left out: the namespace and garbage collectors make them too.
WRITES = {"POST": "create", "PATCH": "patch", "APPLY": "patch", "PUT": "update"}
SAMPLE = re.compile(r"^apiserver_request_total\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)
LABEL = re.compile(r'(\w+)="([^"]*)"')


def request_totals(kubectl: Kubectl) -> Counter[str]:
    """kube-apiserver's ``apiserver_request_total`` for CROSS_CHECKED writes, as "verb resource"."""
    totals: Counter[str] = Counter()
    for sample in SAMPLE.finditer(kubectl("get", "--raw", "/metrics").stdout):
        labels = dict(LABEL.findall(sample["labels"]))
        resource = labels.get("resource", "")
        if labels.get("subresource"):
            resource += "/" + labels["subresource"]
        verb = WRITES.get(labels.get("verb", ""))
        if resource in CROSS_CHECKED and verb is not None:
            totals[f"{verb} {resource}"] += int(float(sample["value"]))
    return totals


def audit_policy(path: Path, users: list[str]) -> None:
    policy = {
        "apiVersion": "audit.k8s.io/v1",
        "kind": "Policy",
        "omitStages": ["RequestReceived"],
        "rules": [{"level": "Metadata", "users": users}, {"level": "None"}],
    }
    path.write_text(json.dumps(policy))


class Audit:
    """The operators' requests from kube-apiserver's audit log: (time, user, verb, resource)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = 0
        self.requests: list[tuple[float, str, str, str]] = []

    def read(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as f:
            if f.seek(0, 2) < self.offset:  # run.py sets no rotation: a lost count must not read as 0
                raise RuntimeError(f"{self.path} was rotated: requests since then are not counted")
            f.seek(self.offset)
            data = f.read()
        end = data.rfind(b"\n") + 1
        self.offset += end
        for line in data[:end].splitlines():
            event = json.loads(line)
            verb, stage = event["verb"], event["stage"]
            if (verb == "watch") != (stage == "ResponseStarted"):
                continue  # one record per request: a watch when it starts, others when they complete
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", event["requestURI"].split("?")[0])
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            at = datetime.datetime.fromisoformat(event["stageTimestamp"]).timestamp()
            self.requests.append((at, event["user"]["username"].rsplit(":", 1)[1], verb, resource))

    def between(self, impl: str, begin: float, end: float | None = None) -> Counter[str]:
        """``impl``'s requests from ``begin`` to ``end`` (wall clock; default now), by "verb resource"."""
        self.read()
        end = time.time() if end is None else end
        return Counter(
            f"{verb} {resource}"
            for at, who, verb, resource in self.requests
            if who == impl and begin <= at < end
        )
