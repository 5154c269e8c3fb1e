"""operator-sdk's ``operator_sdk.util.k8s_status`` as kubeloop ships it: a task of a role sets custom
fields and conditions on the status of an object (the reconciled one), through the status
subresource, with the run's credentials (``K8S_AUTH_KUBECONFIG``, as kubernetes.core's modules)."""

from __future__ import annotations

import copy
import re
from datetime import UTC, datetime
from typing import Any

from ansible_collections.kubernetes.core.plugins.module_utils.args_common import AUTH_ARG_SPEC, NAME_ARG_SPEC
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.client import get_api_client
from ansible_collections.kubernetes.core.plugins.module_utils.k8s.core import AnsibleK8SModule
from kubernetes.dynamic.exceptions import DynamicApiError, ResourceNotFoundError

DOCUMENTATION = r"""
module: k8s_status
short_description: Update the status of a Kubernetes API resource
description:
  - Sets fields and conditions of the status of an object through its status subresource, for an
    Ansible operator reconciling it (operator-sdk's operator_sdk.util.k8s_status, as kubeloop ships it).
  - The conditions the operator manages (Running, Successful, Failure) are written again by the
    operator after the run; other conditions and fields set here are kept.
extends_documentation_fragment:
  - kubernetes.core.k8s_auth_options
  - kubernetes.core.k8s_name_options
options:
  status:
    type: dict
    description:
      - Fields set on the status (merged into it, or the whole status with I(replace)).
      - One of I(status) or I(conditions) is required.
  conditions:
    type: list
    elements: dict
    description:
      - Conditions set on status.conditions, each merged by its type with those there (unless I(replace)).
      - type and status (True, False, Unknown) are required; reason is one CamelCase word; times are RFC 3339.
      - lastTransitionTime, when not given, is kept while the condition's status stays, else now.
  replace:
    type: bool
    default: false
    aliases: [force]
    description:
      - Replace the whole status (PUT) instead of merging into it (a merge patch).
"""

EXAMPLES = r"""
- name: Set custom status fields
  operator_sdk.util.k8s_status:
    api_version: app.example.com/v1
    kind: AppService
    name: "{{ ansible_operator_meta.name }}"
    namespace: "{{ ansible_operator_meta.namespace }}"
    status:
      phase: Serving
    conditions:
      - type: Available
        status: "True"
        reason: DeploymentReady
        message: the Deployment has its replicas
"""

RETURN = r"""
result:
  description: The object after the change (as it was when nothing changed).
  returned: success
  type: dict
"""

_KEYS = ("type", "status", "reason", "message", "lastHeartbeatTime", "lastTransitionTime")
_CAMEL_CASE = re.compile(r"^(?:[A-Z]*[a-z]*)+$")
_RFC3339 = re.compile(r"^\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d)?(\.\d+)?(([+-]\d\d:\d\d)|Z)$")

ARGUMENT_SPEC: dict[str, Any] = {
    **AUTH_ARG_SPEC,
    **NAME_ARG_SPEC,
    "status": {"type": "dict"},
    "conditions": {"type": "list", "elements": "dict"},
    "replace": {"type": "bool", "default": False, "aliases": ["force"]},
}


def checked_condition(given: Any) -> dict[str, Any]:
    """A condition as the Kubernetes API conventions have it (operator-sdk's checks); ValueError if not."""
    if not isinstance(given, dict):
        raise ValueError("`conditions` must be a list of objects")
    condition: dict[str, Any] = {str(k): v for k, v in given.items()}
    if isinstance(condition.get("status"), bool):
        condition["status"] = "True" if condition["status"] else "False"
    unknown = sorted(k for k in condition if k not in _KEYS)
    if unknown:
        raise ValueError(f"{', '.join(unknown)}: not a field of a condition (fields: {', '.join(_KEYS)})")
    for key in ("type", "status"):
        if not condition.get(key):
            raise ValueError(f"Condition `{key}` must be set")
    if condition["status"] not in ("True", "False", "Unknown"):
        raise ValueError(
            f'Condition `status` must be one of "True", "False", "Unknown", not {condition["status"]}'
        )
    if condition.get("reason") and not _CAMEL_CASE.match(str(condition["reason"])):
        raise ValueError("Condition `reason` must be a single, CamelCase word")
    for key in ("lastHeartbeatTime", "lastTransitionTime"):
        if condition.get(key) and not _RFC3339.match(str(condition[key])):
            raise ValueError(f"`{key}` must be a RFC 3339 datetime")
    return condition


def merged_status(old: dict[str, Any], new: dict[str, Any], now: str) -> dict[str, Any]:
    """``old`` with ``new``'s fields over it and ``new``'s conditions merged by type into its own; a
    condition without lastTransitionTime keeps the old one while its status stays, else gets ``now``."""
    merged = {**old, **new}
    conditions = [dict(c) for c in old.get("conditions") or () if isinstance(c, dict)]
    for condition in new.get("conditions") or ():
        found = next((c for c in conditions if c.get("type") == condition["type"]), None)
        stamped = dict(condition)
        if not stamped.get("lastTransitionTime"):
            same = found is not None and found.get("status") == condition["status"]
            stamped["lastTransitionTime"] = (found or {}).get("lastTransitionTime") if same else now
            if not stamped["lastTransitionTime"]:
                stamped["lastTransitionTime"] = now
        if found is None:
            conditions.append(stamped)
        else:
            conditions[conditions.index(found)] = stamped
    if "conditions" in new or "conditions" in old:
        merged["conditions"] = conditions
    return merged


def main() -> None:
    module = AnsibleK8SModule(argument_spec=copy.deepcopy(ARGUMENT_SPEC), supports_check_mode=True)
    params = module.params
    status = dict(params.get("status") or {})
    try:
        conditions = [checked_condition(c) for c in params.get("conditions") or ()]
        if conditions and status.get("conditions"):
            raise ValueError("You cannot specify conditions in both the `status` and `conditions` parameters")
    except ValueError as exc:
        module.fail_json(msg=str(exc))
        return
    if conditions:
        status["conditions"] = conditions
    if not status:
        module.fail_json(msg="one of status or conditions is required")
        return
    client = get_api_client(module)
    kind, api_version = params["kind"], params["api_version"]
    try:
        resource = client.resource(kind, api_version)
    except ResourceNotFoundError:
        module.fail_json(
            msg=f"Failed to find exact match for {api_version}.{kind} by kind, name, singularName, shortNames"
        )
        return
    if "status" not in (resource.subresources or {}):
        module.fail_json(msg=f"Resource {api_version}.{kind} does not support the status subresource")
        return
    name, namespace = params["name"], params.get("namespace")
    try:
        instance = client.get(resource, name=name, namespace=namespace).to_dict()
    except DynamicApiError as exc:
        module.fail_json(msg=f"Failed to retrieve requested object: {exc}")
        return
    old = instance.get("status") or {}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    desired = merged_status({} if params["replace"] else old, status, now)
    if _same(old, desired):
        module.exit_json(changed=False, result=instance)
        return
    if module.check_mode:
        module.exit_json(changed=True, result={**instance, "status": desired})
        return
    try:
        if params["replace"]:
            result = resource.status.replace(body={**instance, "status": desired}, namespace=namespace)
        else:
            body = {"status": desired}
            result = resource.status.patch(
                body=body, name=name, namespace=namespace, content_type="application/merge-patch+json"
            )
    except DynamicApiError as exc:
        module.fail_json(msg=f"Failed to update the status: {exc}")
        return
    module.exit_json(changed=True, result=result.to_dict())


def _same(old: dict[str, Any], new: dict[str, Any]) -> bool:
    """Whether writing ``new`` would change nothing of ``old`` (condition times aside)."""

    def plain(status: dict[str, Any]) -> dict[str, Any]:
        conditions = [
            {k: v for k, v in c.items() if k != "lastTransitionTime"} for c in status.get("conditions") or ()
        ]
        return {**status, "conditions": conditions} if "conditions" in status else dict(status)

    return plain(old) == plain(new)


if __name__ == "__main__":
    main()
