"""Which requests a webhook's or a policy's match criteria select, as the real server's rule, namespace
and object matchers: rules (operations, groups, versions, resources with subresources and wildcards,
scope, ``resourceNames``), excluded rules, ``matchPolicy: Equivalent`` (a rule naming another version
of the same resource matches, and that version is the one evaluated), namespace and object selectors.
Also the pieces CEL expressions share (``request``, ``matchConditions`` and their errors; expressions
run as CRD rules run, with the Kubernetes CEL libraries)."""

from __future__ import annotations

from typing import Any

from kubeloop.apiserver.admission.attributes import Attributes
from kubeloop.apiserver.cel.evaluation import error_text, execute
from kubeloop.apiserver.machinery.errors import not_found
from kubeloop.apiserver.registry.types import Registry, ResourceType
from kubeloop.apiserver.storage import Obj, View
from kubeloop.labels import SelectorError, selector_from_dict

__all__ = [
    "GROUP",
    "cel_request",
    "conditions_hold",
    "equivalents",
    "exempt",
    "matched_version",
    "resulted_in_error",
]

GROUP = "admissionregistration.k8s.io"
_EXEMPT_KINDS = frozenset(
    {
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
        "ValidatingAdmissionPolicy",
        "ValidatingAdmissionPolicyBinding",
        "MutatingAdmissionPolicy",
        "MutatingAdmissionPolicyBinding",
    }
)


def exempt(attrs: Attributes) -> bool:
    """Requests no webhook or policy sees (so a broken one cannot lock its own removal out)."""
    return attrs.rt.group == GROUP and attrs.rt.kind in _EXEMPT_KINDS


def equivalents(registry: Registry, rt: ResourceType) -> list[ResourceType]:
    """The other versions of ``rt``'s resource (what ``matchPolicy: Equivalent`` also matches)."""
    return [other for other in registry.all() if other.storage == rt.storage and other != rt]


def matched_version(
    criteria: Obj, rules: Any, attrs: Attributes, view: View, equivalents: list[ResourceType]
) -> ResourceType | None:
    """The resource version ``criteria`` select ``attrs`` as (``rules``: its rules, None meaning all),
    or None; 404 when they match in a namespace that does not exist."""
    policy = criteria.get("matchPolicy", "Equivalent")
    if _by_rules(criteria.get("excludeResourceRules"), attrs, equivalents, policy) is not None:
        return None
    rt = attrs.rt if rules is None else _by_rules(rules, attrs, equivalents, policy)
    if rt is None or not _objects_selected(criteria.get("objectSelector"), attrs):
        return None
    return rt if _namespace_selected(criteria.get("namespaceSelector"), attrs, view) else None


def _by_rules(
    rules: Any, attrs: Attributes, equivalents: list[ResourceType], policy: str
) -> ResourceType | None:
    candidates = [attrs.rt, *equivalents] if policy == "Equivalent" else [attrs.rt]
    for rt in candidates:
        for rule in rules or ():
            if _rule_matches(rule, attrs, rt):
                return rt
    return None


def _any(items: Any, wanted: str) -> bool:
    return any(item in ("*", wanted) for item in items or ())


def _rule_matches(rule: Obj, attrs: Attributes, rt: ResourceType) -> bool:
    scope = rule.get("scope", "*")
    cluster_wide = (rt.group == "" and rt.plural == "namespaces") or not attrs.namespace
    if (scope == "Namespaced" and cluster_wide) or (scope == "Cluster" and not cluster_wide):
        return False
    if not _any(rule.get("operations"), attrs.operation):
        return False
    if not _any(rule.get("apiGroups"), rt.group) or not _any(rule.get("apiVersions"), rt.version):
        return False
    names = rule.get("resourceNames")
    if names and attrs.name not in names:
        return False
    for resource in rule.get("resources") or ():
        res, _, sub = str(resource).partition("/")
        if res in ("*", rt.plural) and sub in ("*", attrs.subresource or ""):
            return True
    return False


def _labels(obj: Obj | None) -> dict[str, str]:
    return dict(((obj or {}).get("metadata") or {}).get("labels") or {})


def _selects(selector: Obj | None, labels: dict[str, str]) -> bool:
    try:
        return selector_from_dict(selector or {}).matches_labels(labels)
    except SelectorError:
        return False


def _objects_selected(selector: Obj | None, attrs: Attributes) -> bool:
    if not selector or not (selector.get("matchLabels") or selector.get("matchExpressions")):
        return True
    return any(obj is not None and _selects(selector, _labels(obj)) for obj in (attrs.obj, attrs.old))


def _namespace_selected(selector: Obj | None, attrs: Attributes, view: View) -> bool:
    is_namespace = attrs.rt.group == "" and attrs.rt.plural == "namespaces"
    if not selector or (not attrs.namespace and not is_namespace):
        return True
    if is_namespace and attrs.operation != "DELETE":
        return _selects(selector, _labels(attrs.obj))
    name = attrs.namespace or attrs.name
    namespace = view.get(("/namespaces", "", name))
    if namespace is None:
        raise not_found("namespaces", "", name)
    return _selects(selector, _labels(namespace))


def resulted_in_error(expression: str, exc: Exception) -> str:
    """An expression's run-time error as the admission plugins' CEL filter words it."""
    return f"expression '{expression}' resulted in error: {error_text(exc)}"


def conditions_hold(conditions: list[Obj], context: Obj) -> bool | str:
    """Whether all ``matchConditions`` hold (False as soon as one is false, even after errors), or the
    error when none is false and some fail to run (several: ``[a, b]``, Go's aggregate)."""
    errors = []
    for condition in conditions:
        expression = condition.get("expression", "")
        try:
            if execute(expression, context) is not True:
                return False
        except Exception as exc:  # a failing condition is an error unless another condition is false
            errors.append(resulted_in_error(expression, exc))
    if not errors:
        return True
    return errors[0] if len(errors) == 1 else "[" + ", ".join(errors) + "]"


def cel_request(attrs: Attributes, rt: ResourceType) -> Obj:
    """The ``request`` variable of CEL expressions (the AdmissionRequest's main fields, as ``rt``)."""
    return {
        "kind": {"group": rt.group, "version": rt.version, "kind": rt.kind},
        "resource": {"group": rt.group, "version": rt.version, "resource": rt.plural},
        "requestKind": {"group": attrs.rt.group, "version": attrs.rt.version, "kind": attrs.rt.kind},
        "requestResource": {
            "group": attrs.rt.group,
            "version": attrs.rt.version,
            "resource": attrs.rt.plural,
        },
        "subResource": attrs.subresource or "",
        "name": attrs.name,
        "namespace": attrs.namespace,
        "operation": attrs.operation,
        "userInfo": attrs.user,
        "dryRun": attrs.dry_run,
    }
