"""The Job controller: up to ``parallelism`` active Pods from the template (with the job-name and
controller-uid labels) until ``completions`` Pods succeeded (without ``completions``: until one did and
none is active), then ``SuccessCriteriaMet`` and ``Complete`` with ``completionTime``; more failed Pods
than ``backoffLimit`` (default 6): active ones deleted, ``FailureTarget`` and ``Failed``
(``BackoffLimitExceeded``); ``suspend`` deletes the active Pods. Status counts from the Pods
(``active``, ``ready``, ``succeeded``, ``failed``, ``terminating``, ``startTime``)."""

from __future__ import annotations

import copy
from typing import Any

from kubeloop.apiserver.controllers.objects import active, controlled_by, pod_ready, set_condition
from kubeloop.apiserver.controllers.replicasets import PodOwner
from kubeloop.apiserver.machinery import meta
from kubeloop.controller import Request, Result

__all__ = ["JobController"]

Obj = dict[str, Any]
COMPONENT = "job-controller"
_REACHED = ("CompletionsReached", "Reached expected number of succeeded pods")
_BACKOFF = ("BackoffLimitExceeded", "Job has reached the specified backoff limit")


def _finished(job: Obj) -> bool:
    return any(
        c.get("type") in ("Complete", "Failed") and c.get("status") == "True"
        for c in (job.get("status") or {}).get("conditions") or ()
    )


def _phase(pod: Obj) -> str:
    return str((pod.get("status") or {}).get("phase") or "")


class JobController(PodOwner):
    name = "job"
    group, plural, kind = "batch", "jobs", "Job"

    def _template(self, job: Obj) -> Obj:
        template = copy.deepcopy((job.get("spec") or {}).get("template") or {})
        md = job["metadata"]
        labels = template.setdefault("metadata", {}).setdefault("labels", {})
        for key in ("batch.kubernetes.io/controller-uid", "controller-uid"):
            labels.setdefault(key, md["uid"])
        for key in ("batch.kubernetes.io/job-name", "job-name"):
            labels.setdefault(key, md["name"])
        return template

    async def reconcile(self, request: Request) -> Result | None:
        job = self.workloads.get(request.namespace, request.name)
        if job is None or job["metadata"].get("deletionTimestamp") or _finished(job):
            return None
        spec = job.get("spec") or {}
        pods = [p for p in self.pods.informer.list(request.namespace) if controlled_by(p, job)]
        running = [p for p in pods if active(p)]
        succeeded = sum(_phase(p) == "Succeeded" for p in pods)
        failed = sum(_phase(p) == "Failed" for p in pods)
        completions, parallelism = spec.get("completions"), int(spec.get("parallelism", 1))
        status = copy.deepcopy(job.get("status") or {})
        status.setdefault("startTime", meta.now())
        done = succeeded >= completions if completions is not None else succeeded > 0 and not running
        if failed > int(spec.get("backoffLimit", 6)):
            await self.pods.delete(job, running, len(running), COMPONENT)
            for kind in ("FailureTarget", "Failed"):
                set_condition(status, kind, "True", *_BACKOFF, update_time=False)
            running = []
        elif done:
            await self.pods.delete(job, running, len(running), COMPONENT)
            for kind in ("SuccessCriteriaMet", "Complete"):
                set_condition(status, kind, "True", *_REACHED, update_time=False)
            status["completionTime"] = meta.now()
            running = []
            await self.runtime.record(job, "Completed", "Job completed", COMPONENT)
        elif spec.get("suspend"):
            await self.pods.delete(job, running, len(running), COMPONENT)
            running = []
        else:
            wanted = parallelism if completions is None else min(parallelism, int(completions) - succeeded)
            if completions is None and succeeded:
                wanted = 0
            missing = wanted - len(running)
            if missing > 0:
                await self.pods.create(job, self._template(job), missing, f"{request.name}-", COMPONENT)
        counts = {"active": len(running), "succeeded": succeeded, "failed": failed}
        for field, value in counts.items():
            if value:
                status[field] = value
            else:
                status.pop(field, None)
        status.update(
            ready=sum(pod_ready(p) for p in running),
            terminating=sum(bool(p["metadata"].get("deletionTimestamp")) for p in pods),
            uncountedTerminatedPods=status.get("uncountedTerminatedPods") or {},
        )
        if status != job.get("status"):
            await self.runtime.update(self.workload_rt, dict(job, status=status), "status")
        return None
