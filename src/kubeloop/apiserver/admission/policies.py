"""``Policies``: the ValidatingAdmissionPolicy plugin, CEL validations of the stored policies and their
bindings, evaluated in the write job (no network), after the mutating webhooks and before the
validating ones, as on the real server.

A policy whose ``matchConstraints`` select the request is evaluated once per binding naming it whose
``matchResources`` (if any) select it too, and once per parameter object (``paramKind`` + the binding's
``paramRef``: a name or a selector; none found is a denial with ``parameterNotFoundAction: Deny``).
Variables are ``object``, ``oldObject``, ``request``, ``params``, ``namespaceObject`` and ``variables``;
``matchConditions`` filter. Expressions run as CRD rules run (``cel.evaluation``), with the Kubernetes
CEL libraries (``quantity()``, ``url()``, ``isSorted()``, ``lowerAscii()``...). A failed validation is
denied (``Deny``), a warning (``Warn``), or nothing (``Audit``: there is no audit log); an expression
that fails to evaluate follows ``failurePolicy`` (``expression '<e>' resulted in error: <error>``). The
denial is the real server's: ``<resource> "<name>" is forbidden: ValidatingAdmissionPolicy '<policy>'
with binding '<binding>' denied request: <message>``, 422 Invalid unless the validation names a reason.
"""

from __future__ import annotations

from dataclasses import dataclass

from kubeloop.apiserver.admission.attributes import Attributes
from kubeloop.apiserver.admission.matching import (
    GROUP,
    cel_request,
    conditions_hold,
    equivalents,
    exempt,
    matched_version,
    resulted_in_error,
)
from kubeloop.apiserver.cel.evaluation import execute
from kubeloop.apiserver.machinery.errors import Cause, StatusError
from kubeloop.apiserver.registry.convert import to_version
from kubeloop.apiserver.registry.types import Registry, ResourceType
from kubeloop.apiserver.storage import Obj, View
from kubeloop.gvk import split_api_version
from kubeloop.labels import SelectorError, selector_from_dict

__all__ = ["Policies"]

POLICIES = f"{GROUP}/validatingadmissionpolicies"
BINDINGS = f"{GROUP}/validatingadmissionpolicybindings"
_CODES = {"Forbidden": 403, "Unauthorized": 401, "RequestEntityTooLarge": 413}


@dataclass(frozen=True)
class _Denial:
    policy: str
    binding: str
    message: str
    reason: str = ""


class _Unconfigured(Exception):
    """The binding cannot be evaluated (its parameters are missing or misnamed)."""


class Policies:
    """The policies and bindings stored in the server (see module docstring)."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def configured(self, view: View) -> bool:
        """Whether any binding exists (else no policy is evaluated)."""
        return view.committed_any(BINDINGS)

    def validate(self, attrs: Attributes, view: View) -> list[str]:
        """The warnings of ``Warn`` bindings; raises the first ``Deny`` binding's refusal."""
        if not self.configured(view) or exempt(attrs):
            return []
        bindings = view.list(BINDINGS)
        same = equivalents(self.registry, attrs.rt)
        denials: list[_Denial] = []
        warnings: list[str] = []
        for policy in view.list(POLICIES):
            spec, name = policy.get("spec") or {}, policy["metadata"]["name"]
            constraints = spec.get("matchConstraints") or {}
            rt = matched_version(constraints, constraints.get("resourceRules"), attrs, view, same)
            if rt is None:
                continue
            for binding in bindings:
                bspec = binding.get("spec") or {}
                if bspec.get("policyName") != name or not _binding_selects(bspec, attrs, view, same):
                    continue
                found = self._evaluate(spec, bspec, attrs, rt, view)
                actions = bspec.get("validationActions") or ()
                for message, reason in found:
                    denial = _Denial(name, binding["metadata"]["name"], message, reason)
                    if "Deny" in actions:
                        denials.append(denial)
                    if "Warn" in actions:
                        warnings.append(
                            f"Validation failed for ValidatingAdmissionPolicy '{denial.policy}' with binding "
                            f"'{denial.binding}': {message}"
                        )
        if denials:
            raise _refusal(attrs, denials[0])
        return warnings

    def _evaluate(
        self, spec: Obj, bspec: Obj, attrs: Attributes, rt: ResourceType, view: View
    ) -> list[tuple[str, str]]:
        """(message, reason) of every validation that fails, per parameter object."""
        fail = spec.get("failurePolicy", "Fail") != "Ignore"
        try:
            params = self._params(spec.get("paramKind"), bspec.get("paramRef"), attrs, view)
        except _Unconfigured as exc:
            return [(f"failed to configure binding: {exc}", "")] if fail else []
        namespace = view.get(("/namespaces", "", attrs.namespace)) if attrs.namespace else None
        found: list[tuple[str, str]] = []
        for param in params:
            context: Obj = {
                "object": None if attrs.obj is None else to_version(rt, attrs.obj),
                "oldObject": None if attrs.old is None else to_version(rt, attrs.old),
                "request": cel_request(attrs, rt),
                "params": param,
                "namespaceObject": namespace,
            }
            context["variables"] = variables = {}
            try:
                for variable in spec.get("variables") or ():
                    variables[variable["name"]] = execute(variable["expression"], context)
            except Exception as exc:  # an expression that cannot run: failurePolicy decides
                if fail:
                    found.append((resulted_in_error(variable["expression"], exc), ""))
                continue
            held = conditions_hold(spec.get("matchConditions") or [], context)
            if held is not True:
                if isinstance(held, str) and fail:
                    found.append((held, ""))
                continue
            for validation in spec.get("validations") or ():
                expression = validation["expression"]
                try:
                    if execute(expression, context) is True:
                        continue
                except Exception as exc:
                    if fail:
                        found.append((resulted_in_error(expression, exc), ""))
                    continue
                found.append((_message(validation, context), validation.get("reason") or "Invalid"))
        return found

    def _params(self, kind: Obj | None, ref: Obj | None, attrs: Attributes, view: View) -> list[Obj | None]:
        if not kind or not ref:
            return [None]
        group, _ = split_api_version(kind.get("apiVersion", ""))
        rt = self.registry.by_kind(group, kind.get("kind", ""))
        if rt is None:
            raise _Unconfigured(
                f"paramKind kind `{kind.get('apiVersion')}, Kind={kind.get('kind')}` not known"
            )
        namespace = ""
        if rt.namespaced:
            namespace = ref.get("namespace") or attrs.namespace
            if not namespace:
                raise _Unconfigured(
                    "cannot use namespaced paramRef in policy binding that matches cluster-scoped resources"
                )
        if ref.get("name"):
            param = view.get((rt.storage, namespace, ref["name"]))
            params = [] if param is None else [to_version(rt, param)]
        else:
            try:
                selector = selector_from_dict(ref.get("selector") or {})
            except SelectorError as exc:
                raise _Unconfigured(str(exc)) from exc
            params = [
                to_version(rt, p) for p in view.list(rt.storage, namespace or None) if selector.matches(p)
            ]
        if not params and ref.get("parameterNotFoundAction") == "Deny":
            raise _Unconfigured("no params found for policy binding with `Deny` parameterNotFoundAction")
        return list(params)


def _binding_selects(bspec: Obj, attrs: Attributes, view: View, same: list[ResourceType]) -> bool:
    criteria = bspec.get("matchResources")
    if not criteria:
        return True
    rules = criteria.get("resourceRules") or None
    return matched_version(criteria, rules, attrs, view, same) is not None


def _message(validation: Obj, context: Obj) -> str:
    if validation.get("messageExpression"):
        try:
            produced = execute(validation["messageExpression"], context)
            if isinstance(produced, str) and produced.strip() and "\n" not in produced:
                return produced.strip()
        except Exception:  # the real server falls back to message when messageExpression fails
            pass
    return (
        str(validation.get("message") or "").strip()
        or f"failed expression: {validation['expression'].strip()}"
    )


def _refusal(attrs: Attributes, denial: _Denial) -> StatusError:
    text = f"ValidatingAdmissionPolicy '{denial.policy}' with binding '{denial.binding}' denied request: "
    text += denial.message
    resource = f"{attrs.rt.plural}.{attrs.rt.group}" if attrs.rt.group else attrs.rt.plural
    subject = f'{resource} "{attrs.name}"' if attrs.name else resource
    reason = denial.reason or "Invalid"
    return StatusError(
        _CODES.get(reason, 422),
        reason,
        f"{subject} is forbidden: {text}",
        name=attrs.name,
        group=attrs.rt.group,
        kind=attrs.rt.plural,
        causes=[Cause("", text)],
    )
