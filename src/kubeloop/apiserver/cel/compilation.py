"""CEL rules compiled when a CRD is created or updated, as apiextensions does it
(``schema/cel/compilation.go`` and the cost accounting of ``validation.go``): every
``x-kubernetes-validations`` rule is parsed (our CEL library), type-checked against its schema node
(``checker``), must return a bool, and its estimated cost (``cost``) times the number of times the
node can occur must stay under the per-rule limit; the whole schema's rules under the CRD's total.

Causes come in the real server's order: a node's children before its own rules, a rule's cost before
its compilation error, the total last.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from kubeloop.apiserver.cel import checker, decls, evaluation, format_check, parse
from kubeloop.apiserver.cel.cost import estimate
from kubeloop.apiserver.cel.decls import Decl
from kubeloop.apiserver.machinery import validation
from kubeloop.apiserver.machinery.errors import Cause

__all__ = ["PER_RULE_LIMIT", "TOTAL_LIMIT", "rule_causes"]

PER_RULE_LIMIT = 10_000_000
TOTAL_LIMIT = 100_000_000
_HINT = (
    "(try simplifying the rule, or adding maxItems, maxProperties, and maxLength where arrays, maps, "
    "and strings are declared)"
)

Obj = dict[str, Any]
log = logging.getLogger(__name__)


@dataclass
class _Compiled:
    """One rule's outcome: its compilation error, its cost (0 when it did not compile or cannot be
    estimated), and the same for its messageExpression."""

    error: str | None = None
    cost: int = 0
    message_error: str | None = None
    message_cost: int | None = None


@dataclass
class _Total:
    """The schema's summed cost and its most expensive rules (at least 1 % of the limit, at most 4)."""

    total: int = 0
    expensive: list[tuple[int, str]] = field(default_factory=list)

    def observe(self, path: str, cost: int) -> None:
        self.total = min(self.total + cost, 2**64 - 1)
        if cost < TOTAL_LIMIT // 100:
            return
        self.expensive.append((cost, path))
        self.expensive.sort(key=lambda e: -e[0])
        del self.expensive[4:]


def cost_message(name: str, cost: int, limit: int) -> str:
    """``getCostErrorMessage``: by how much ``cost`` exceeds ``limit``."""
    factor = cost / limit
    if factor > 100.0:
        shown = "more than 100x"
    elif factor < 1.5:
        shown = f"{factor:f}x"
    else:
        shown = f"{factor:.1f}x"
    return f"{name} exceeds budget by factor of {shown} {_HINT}"


def _located(rule: str, errors: list[tuple[int, str]]) -> str:
    """cel-go's display of checker errors: ``ERROR: <input>:line:col: message`` and the line with a
    caret under the column."""
    lines = []
    for offset, message in errors:
        before = rule[:offset]
        line = before.count("\n") + 1
        column = offset - (before.rfind("\n") + 1)
        text = rule.split("\n")[line - 1]
        lines.append(f"ERROR: <input>:{line}:{column + 1}: {message}\n | {text}\n | {'.' * column}^")
    return "\n".join(lines)


def _compile(text: str, decl: Decl, want: str) -> tuple[str | None, int | None]:
    """The error (None when it compiles) and estimated cost of one expression over ``decl``; ``want``:
    the type it must return (bool for a rule, string for a messageExpression)."""
    problem = evaluation.compile_error(text)
    if problem is not None and "unsupported syntax" in problem:
        return None, None  # optional syntax (.? and [?]), which cel-go reads and our library does not
    if problem is not None:
        return problem, 0
    try:
        tree = parse.parse(text)
        checked = checker.check(tree, {"self": decl, "oldSelf": decl})
        errors = checked.errors or format_check.format_errors(tree, checked)  # validators after the check
        if errors:
            return "compilation failed: " + _located(text, errors), 0
        if checked.type.kind != "unknown" and checked.type.kind != want:
            return "must evaluate to a " + want, 0
        return None, estimate(tree, checked, decl)
    except (parse.Unsupported, RecursionError):
        # RecursionError: a tree deeper than Python's stack (a chain of some 400 ``&&``, which cel-go
        # balances into a shallow one): left unchecked, as what we cannot read.
        return None, None
    except Exception:  # a fault of our checker must not refuse a CRD the real server may accept
        log.warning("CEL rule left unchecked: the checker failed on %r", text, exc_info=True)
        return None, None


def _compile_rule(rule: Obj, decl: Decl) -> _Compiled:
    text = str(rule.get("rule", ""))
    if not text.strip():
        return _Compiled()
    error, cost = _compile(text, decl, "bool")
    if error is not None:
        if error.startswith("must"):
            error = "cel expression " + error
        return _Compiled(error=error)
    compiled = _Compiled(cost=cost or 0)
    expression = str(rule.get("messageExpression") or "")
    if expression:
        message_error, message_cost = _compile(expression, decl, "string")
        if message_error is not None:
            compiled.message_error = "messageExpression " + message_error
        else:
            compiled.message_cost = message_cost or 0
    return compiled


def _go_rule(rule: Obj) -> str:
    text = ", ".join(
        f"{name}:{validation.go_value(str(rule.get(key, '')))}"
        for name, key in (
            ("Rule", "rule"),
            ("Message", "message"),
            ("MessageExpression", "messageExpression"),
        )
    )
    return (
        f"apiextensions.ValidationRule{{{text}, Reason:(*apiextensions.FieldValueErrorReason)(nil), "
        f"FieldPath:{validation.go_value(str(rule.get('fieldPath', '')))}, OptionalOldSelf:(*bool)(nil)}}"
    )


def _max_elements(schema: Obj) -> int | None:
    """How many times a child of ``schema`` can occur in one of it (``extractMaxElements``)."""
    kind = schema.get("type")
    if kind == "object":
        if schema.get("additionalProperties") is not None and schema.get("additionalProperties") is not False:
            return max(int(schema["maxProperties"]), 0) if schema.get("maxProperties") is not None else None
        return 1
    if kind == "array":
        return max(int(schema["maxItems"]), 0) if schema.get("maxItems") is not None else None
    return 1


def _walk(
    schema: Obj,
    path: str,
    root: bool,
    cardinality: int | None,
    costs: bool,
    total: _Total,
    causes: list[Cause],
) -> None:
    def child(sub: Any, sub_path: str) -> None:
        if not isinstance(sub, dict):
            return
        bound = _max_elements(schema)
        inner = None if cardinality is None or bound is None else cardinality * bound
        _walk(sub, sub_path, False, inner, costs, total, causes)

    if isinstance(schema.get("additionalProperties"), dict):
        child(schema["additionalProperties"], f"{path}.additionalProperties")
    for name, sub in (schema.get("properties") or {}).items():
        child(sub, f"{path}.properties[{name}]")
    if isinstance(schema.get("items"), dict):
        child(schema["items"], f"{path}.items")
    rules = schema.get("x-kubernetes-validations") or []
    if not rules:
        return
    decl = decls.schema_decl(schema, root or bool(schema.get("x-kubernetes-embedded-resource")))
    if decl is None:
        return
    times = cardinality if cardinality is not None else decls.MAX_REQUEST_BYTES // (decl.min_size + 1)
    for n, rule in enumerate(rules):
        at = f"{path}.x-kubernetes-validations[{n}]"
        compiled = _compile_rule(rule, decl)
        cost = min(compiled.cost * times, 2**64 - 1)
        if costs and cost > PER_RULE_LIMIT:
            causes.append(
                validation.forbidden(f"{at}.rule", cost_message("estimated rule cost", cost, PER_RULE_LIMIT))
            )
        total.observe(f"{at}.rule", cost)
        if compiled.error is not None:
            causes.append(validation.invalid_raw(f"{at}.rule", _go_rule(rule), compiled.error))
        if compiled.message_error is not None:
            causes.append(
                validation.invalid_raw(f"{at}.messageExpression", _go_rule(rule), compiled.message_error)
            )
        elif compiled.message_cost is not None:
            if costs and compiled.message_cost > PER_RULE_LIMIT:
                message = cost_message(
                    "estimated messageExpression cost", compiled.message_cost, PER_RULE_LIMIT
                )
                causes.append(validation.forbidden(f"{at}.messageExpression", message))
            total.observe(f"{at}.messageExpression", compiled.message_cost)


def rule_causes(schema: Obj | None, path: str, *, costs: bool = True) -> list[Cause]:
    """Every cause the real server gives for the rules of ``schema`` (an ``openAPIV3Schema`` at
    ``path``); ``costs=False`` leaves out per-rule cost limits (an update that kept the schema)."""
    if not isinstance(schema, dict):
        return []
    causes: list[Cause] = []
    total = _Total()
    _walk(schema, path, True, 1, costs, total, causes)
    if total.total > TOTAL_LIMIT:
        for _, expensive in total.expensive:
            detail = (
                "contributed to estimated rule cost total exceeding cost limit for entire OpenAPIv3 schema"
            )
            causes.append(validation.forbidden(expensive, detail))
        name = "x-kubernetes-validations estimated rule cost total for entire OpenAPIv3 schema"
        causes.append(validation.forbidden(path, cost_message(name, total.total, TOTAL_LIMIT)))
    return causes
