"""Mutating/ValidatingWebhookConfigurations: the v1 defaults (failurePolicy Fail, matchPolicy Equivalent,
empty selectors, timeoutSeconds 10, reinvocationPolicy Never, rule scope ``*``, service port 443) and
the rules of ``pkg/apis/admissionregistration/validation`` users meet first, with its messages: names
fully qualified and unique, the enums, sideEffects None/NoneOnDryRun, timeouts of 1-30 s, exactly one of
url or service (an https url without query, fragment or user), admissionReviewVersions."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from kubeloop.apiserver.machinery import validation
from kubeloop.apiserver.machinery.errors import Cause
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Obj, View
from kubeloop.apiserver.strategy.base import Strategy

__all__ = ["WebhookConfigurationStrategy"]

_REVIEW_VERSIONS = ("v1", "v1beta1")
_FORM = "; desired format: https://host[/path]"


class WebhookConfigurationStrategy(Strategy):
    def __init__(self, mutating: bool) -> None:
        self.mutating = mutating

    def prepare_for_create(self, rt: ResourceType, obj: Obj, view: View) -> None:
        super().prepare_for_create(rt, obj, view)
        self._default(obj)

    def prepare_for_update(self, rt: ResourceType, obj: Obj, old: Obj, view: View) -> None:
        self._default(obj)

    def _default(self, obj: Obj) -> None:
        for hook in obj.get("webhooks") or ():
            if not isinstance(hook, dict):
                continue
            hook.setdefault("failurePolicy", "Fail")
            hook.setdefault("matchPolicy", "Equivalent")
            hook.setdefault("namespaceSelector", {})
            hook.setdefault("objectSelector", {})
            hook.setdefault("timeoutSeconds", 10)
            if self.mutating:
                hook.setdefault("reinvocationPolicy", "Never")
            for rule in hook.get("rules") or ():
                if isinstance(rule, dict):
                    rule.setdefault("scope", "*")
            service = (hook.get("clientConfig") or {}).get("service")
            if isinstance(service, dict):
                service.setdefault("port", 443)

    def validate(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> list[Cause]:
        causes: list[Cause] = []
        seen: set[str] = set()
        for n, hook in enumerate(obj.get("webhooks") or ()):
            path = f"webhooks[{n}]"
            causes += self._hook_causes(hook, path)
            causes += _review_version_causes(
                hook.get("admissionReviewVersions"), f"{path}.admissionReviewVersions"
            )
            name = hook.get("name") or ""
            if name in seen:
                causes.append(
                    Cause(
                        "FieldValueDuplicate", f"Duplicate value: {validation.go_value(name)}", f"{path}.name"
                    )
                )
            elif name:
                seen.add(name)
        return causes

    def _hook_causes(self, hook: Obj, path: str) -> list[Cause]:
        causes = _qualified_name_causes(hook.get("name") or "", f"{path}.name")
        for field, supported in (
            ("failurePolicy", ["Fail", "Ignore"]),
            ("matchPolicy", ["Equivalent", "Exact"]),
        ):
            if field in hook and hook[field] not in supported:
                causes.append(validation.not_supported(f"{path}.{field}", hook[field], supported))
        side_effects = ["None", "NoneOnDryRun"]
        if hook.get("sideEffects") is None:
            causes.append(
                validation.required(f"{path}.sideEffects", "must specify one of None, NoneOnDryRun")
            )
        elif hook["sideEffects"] not in side_effects:
            causes.append(validation.not_supported(f"{path}.sideEffects", hook["sideEffects"], side_effects))
        timeout = hook.get("timeoutSeconds")
        if isinstance(timeout, int) and not 1 <= timeout <= 30:
            causes.append(
                validation.invalid(
                    f"{path}.timeoutSeconds", timeout, "the timeout value must be between 1 and 30 seconds"
                )
            )
        policy = hook.get("reinvocationPolicy")
        if self.mutating and policy is not None and policy not in ("IfNeeded", "Never"):
            causes.append(
                validation.not_supported(f"{path}.reinvocationPolicy", policy, ["IfNeeded", "Never"])
            )
        return causes + _client_causes(hook.get("clientConfig") or {}, f"{path}.clientConfig")


def _qualified_name_causes(name: str, path: str) -> list[Cause]:
    if not name:
        return [validation.required(path)]
    errors = validation.is_dns1123_subdomain(name)
    if errors:
        return [validation.invalid(path, name, ",".join(errors))]
    if len(name.split(".")) < 3:
        return [
            validation.invalid(
                path, name, "should be a domain with at least three segments separated by dots"
            )
        ]
    return []


def _client_causes(client: Obj, path: str) -> list[Cause]:
    url, service = client.get("url"), client.get("service")
    if (url is None) == (service is None):
        return [validation.required(path, "exactly one of url or service is required")]
    if url is not None:
        parts = urlsplit(str(url))
        causes = []
        if parts.scheme != "https":
            causes.append(
                validation.invalid(
                    f"{path}.url", parts.scheme, "'https' is the only allowed URL scheme" + _FORM
                )
            )
        if not parts.netloc:
            causes.append(validation.invalid(f"{path}.url", "", "host must be specified" + _FORM))
        if parts.fragment:
            causes.append(
                validation.invalid(f"{path}.url", parts.fragment, "fragments are not permitted in the URL")
            )
        if parts.query:
            causes.append(
                validation.invalid(
                    f"{path}.url", parts.query, "query parameters are not permitted in the URL"
                )
            )
        return causes
    causes = []
    service = service if isinstance(service, dict) else {}
    if not service.get("name"):
        causes.append(validation.required(f"{path}.service.name", "service name is required"))
    if not service.get("namespace"):
        causes.append(validation.required(f"{path}.service.namespace", "service namespace is required"))
    return causes


def _review_version_causes(versions: Any, path: str) -> list[Cause]:
    if not versions:
        return [validation.required(path, "must specify one of v1, v1beta1")]
    if not any(v in _REVIEW_VERSIONS for v in versions):
        shown = "[]string{" + ", ".join(validation.go_value(v) for v in versions) + "}"
        return [validation.invalid_raw(path, shown, "must include at least one of v1, v1beta1")]
    return []
