"""Deployments, ReplicaSets, StatefulSets and DaemonSets: replicas, strategy and pod-template defaults; the
validation the real server starts with (selector required, not empty, matching the template labels and
immutable; the pod template; replicas; the Deployment strategy type) and its warning for names that are
not DNS labels."""

from __future__ import annotations

from kubeloop.apiserver.machinery import validation
from kubeloop.apiserver.machinery.errors import Cause
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Obj, View
from kubeloop.apiserver.strategy.base import Strategy
from kubeloop.apiserver.strategy.podspec import RESTART_POLICIES, go_map, template_causes
from kubeloop.apiserver.strategy.podtemplate import template_defaults
from kubeloop.labels import SelectorError, selector_from_dict

__all__ = ["DaemonSetStrategy", "DeploymentStrategy", "ReplicaSetStrategy", "StatefulSetStrategy"]


def _go_selector(selector: Obj | None) -> str:
    """A LabelSelector as Go's ``%#v`` shows it (a nil one as the field error prints nil: "null")."""
    if selector is None:
        return '"null"'
    expressions = selector.get("matchExpressions")
    shown = (
        "[]v1.LabelSelectorRequirement(nil)"
        if not expressions
        else f"[]v1.LabelSelectorRequirement{expressions}"
    )
    return f"v1.LabelSelector{{MatchLabels:{go_map(selector.get('matchLabels'))}, MatchExpressions:{shown}}}"


class _Workload(Strategy):
    def prepare_for_create(self, rt: ResourceType, obj: Obj, view: View) -> None:
        super().prepare_for_create(rt, obj, view)
        self.defaults(obj.setdefault("spec", {}))

    def prepare_for_update(self, rt: ResourceType, obj: Obj, old: Obj, view: View) -> None:
        self.defaults(obj.setdefault("spec", {}))

    def defaults(self, spec: Obj) -> None:
        spec.setdefault("replicas", 1)
        template_defaults(spec)

    def warnings_on_create(self, rt: ResourceType, obj: Obj) -> list[str]:
        problems = validation.is_dns1123_label(obj["metadata"]["name"])
        if not problems:
            return []
        return [
            "metadata.name: this is used in Pod names and hostnames, which can result in surprising "
            f"behavior; a DNS label is recommended: [{' '.join(problems)}]"
        ]

    def validate(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> list[Cause]:
        spec = obj.get("spec") or {}
        causes: list[Cause] = []
        replicas = spec.get("replicas")
        if isinstance(replicas, int) and replicas < 0:
            causes.append(validation.invalid("spec.replicas", replicas, "must be greater than or equal to 0"))
        selector = spec.get("selector")
        if selector is None:
            causes.append(validation.required("spec.selector"))
        elif not (selector.get("matchLabels") or selector.get("matchExpressions")):
            causes.append(
                validation.invalid_raw(
                    "spec.selector",
                    _go_selector(selector),
                    f"empty selector is invalid for {rt.kind.lower()}",
                )
            )
        labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels")
        try:
            matches = selector is not None and selector_from_dict(selector).matches_labels(labels or {})
        except SelectorError:
            causes.append(
                validation.invalid_raw("spec.selector", _go_selector(selector), "invalid label selector")
            )
            matches = True  # the real server skips the template check when the selector does not parse
        if not matches:
            causes.append(
                validation.invalid_raw(
                    "spec.template.metadata.labels",
                    go_map(labels),
                    "`selector` does not match template `labels`",
                )
            )
        causes += template_causes(spec, "spec.template")
        policy = ((spec.get("template") or {}).get("spec") or {}).get("restartPolicy")
        if policy in RESTART_POLICIES and policy != "Always":
            causes.append(validation.not_supported("spec.template.spec.restartPolicy", policy, ["Always"]))
        causes += self.spec_causes(spec)
        if old is not None:
            old_selector = (old.get("spec") or {}).get("selector")
            if selector != old_selector:
                causes.append(
                    validation.invalid_raw("spec.selector", _go_selector(selector), "field is immutable")
                )
        return causes

    def spec_causes(self, spec: Obj) -> list[Cause]:
        return []


class DeploymentStrategy(_Workload):
    status_keeps_annotations = True
    annotations_move_generation = True

    def defaults(self, spec: Obj) -> None:
        spec.setdefault("replicas", 1)
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        strategy = spec.setdefault("strategy", {"type": "RollingUpdate"})
        if strategy.get("type", "RollingUpdate") == "RollingUpdate":
            strategy.setdefault("type", "RollingUpdate")
            strategy.setdefault("rollingUpdate", {"maxUnavailable": "25%", "maxSurge": "25%"})
        template_defaults(spec)

    def spec_causes(self, spec: Obj) -> list[Cause]:
        strategy = spec.get("strategy") or {}
        kind = strategy.get("type")
        if kind == "Recreate" and strategy.get("rollingUpdate") is not None:
            why = "may not be specified when strategy `type` is 'Recreate'"
            return [validation.forbidden("spec.strategy.rollingUpdate", why)]
        if kind in ("Recreate", "RollingUpdate"):
            return []
        # Go prints the pointer: nil, or an address (the embedded server's is the dict's id).
        rolling = strategy.get("rollingUpdate")
        pointer = "nil" if rolling is None else f"0x{id(rolling):x}"
        shown = (
            f"apps.DeploymentStrategy{{Type:{validation.go_value(kind or '')}, "
            f"RollingUpdate:(*apps.RollingUpdateDeployment)({pointer})}}"
        )
        return [
            Cause(
                "FieldValueNotSupported",
                f'Unsupported value: {shown}: supported values: "Recreate", "RollingUpdate"',
                "spec.strategy",
            )
        ]


class ReplicaSetStrategy(_Workload):
    pass


class DaemonSetStrategy(_Workload):
    def defaults(self, spec: Obj) -> None:
        spec.setdefault("revisionHistoryLimit", 10)
        strategy = spec.setdefault("updateStrategy", {"type": "RollingUpdate"})
        if isinstance(strategy, dict) and strategy.setdefault("type", "RollingUpdate") == "RollingUpdate":
            strategy.setdefault("rollingUpdate", {"maxUnavailable": 1, "maxSurge": 0})
        template_defaults(spec)


class StatefulSetStrategy(_Workload):
    def defaults(self, spec: Obj) -> None:
        spec.setdefault("replicas", 1)
        spec.setdefault("podManagementPolicy", "OrderedReady")
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("updateStrategy", {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}})
        template_defaults(spec)
