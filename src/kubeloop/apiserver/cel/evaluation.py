"""CEL ``x-kubernetes-validations`` rules of CRD schemas, evaluated with ``common-expression-language``.

Every rule of every schema node present in the object is run with ``self`` bound to the node's value;
transition rules (those using ``oldSelf``) run only on updates where the old value exists. A rule that
returns false (or fails to evaluate) is one cause, as the real server reports it:
``<path>: Invalid value: "<type>": <message>``, with ``message``/``messageExpression``, ``reason`` and
``fieldPath`` honoured. Compiled programs are cached by rule text. The Kubernetes CEL libraries
(``library``) are given to the rules that call them; admission policies and match conditions run their
expressions through ``execute`` too.
"""

from __future__ import annotations

import functools
from typing import Any

from kubeloop.apiserver.cel import library
from kubeloop.apiserver.cel.correlation import Correlated, map_list_old
from kubeloop.apiserver.machinery.errors import Cause

__all__ = ["check", "compile_error", "error_text", "execute", "json_type_name"]

Obj = dict[str, Any]


@functools.lru_cache(maxsize=4096)
def _program(rule: str) -> Any:
    import cel  # on first use: the package imports its CLI (prompt_toolkit), ~0.3 s of every start

    return cel.compile(rule)


@functools.lru_cache(maxsize=4096)
def _functions(rule: str) -> dict[str, Any]:
    return library.needed(_program(rule).functions())


def execute(rule: str, variables: dict[str, Any]) -> Any:
    """Run ``rule`` with ``variables`` and the library functions it calls; a library function's
    failure raises ``library.LibraryError`` with cel-go's message."""
    import cel

    program = _program(rule)
    functions = _functions(rule)
    if not functions:
        return program.execute(variables)
    library.last_error()
    try:
        return program.execute(cel.Context(variables, functions))
    except Exception as exc:
        failed = library.last_error()
        if failed is None:
            raise
        raise library.LibraryError(failed) from exc


def error_text(exc: Exception) -> str:
    """An expression's run-time error in cel-go's words: a library function's own, or the common ones of the
    standard library (others as our CEL library words them)."""
    if isinstance(exc, library.LibraryError):
        return str(exc)
    if isinstance(exc, KeyError) and exc.args:
        return f"no such key: {exc.args[0]}"
    if isinstance(exc, ZeroDivisionError):
        return "division by zero"
    if isinstance(exc, OverflowError):
        return "integer overflow"
    return str(exc)


def compile_error(rule: str) -> str | None:
    """Why ``rule`` does not parse, as cel-go words it (None when it does); ``compilation`` then
    type-checks it against its schema and estimates its cost."""
    try:
        _program(rule)
    except ValueError as exc:
        text = str(exc).removeprefix(f"Failed to parse expression '{rule}': ")
        return "compilation failed: " + text.replace("\n| ", "\n | ")
    return None


def json_type_name(value: Any) -> str:
    """The OpenAPI type name of a decoded JSON value, as the API server's messages name it."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def check(obj: Obj, old: Obj | None, schema: Obj, warnings: list[str] | None = None) -> list[Cause]:
    """Causes for every ``x-kubernetes-validations`` rule ``obj`` breaks (``old``: the stored object).

    On an update a rule without ``oldSelf`` that fails on a node unchanged since ``old`` (or whose
    nearest correlated ancestor is unchanged) is ratcheted, as v1.33 does: a warning (into
    ``warnings``), not a cause; a rule that fails to run is not ratcheted."""
    causes: list[Cause] = []
    body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
    old_body = (
        None if old is None else {k: v for k, v in old.items() if k not in ("apiVersion", "kind", "metadata")}
    )
    corr = None if old is None else Correlated(obj, old, schema)
    _walk(body, old_body, schema, "", causes, _Ratchet(corr, None, warnings))
    return causes


class _Ratchet:
    """Where ratcheting stands at a node: its correlation (None: none) and the nearest correlated
    ancestor's, as apiextensions' ``ratchetingOptions``."""

    __slots__ = ("anchor", "corr", "warnings")

    def __init__(
        self, corr: Correlated | None, anchor: Correlated | None, warnings: list[str] | None
    ) -> None:
        self.corr = corr
        self.anchor = anchor
        self.warnings = warnings

    def key(self, field: str) -> _Ratchet:
        if self.corr is None:
            return self
        return _Ratchet(self.corr.key(field), self.corr, self.warnings)

    def index(self, i: int) -> _Ratchet:
        if self.corr is None:
            return self
        return _Ratchet(self.corr.index(i), self.corr, self.warnings)

    def unchanged(self) -> bool:
        node = self.corr if self.corr is not None else self.anchor
        return node is not None and node.equal()


def _walk(value: Any, old: Any, schema: Obj, path: str, causes: list[Cause], ratchet: _Ratchet) -> None:
    if value is None:  # rules validate non-null values only, as the real validator (nor their children)
        return
    for rule in schema.get("x-kubernetes-validations") or ():
        cause, ratchetable = _run(rule, value, old, path)
        if cause is None:
            continue
        if ratchetable and ratchet.unchanged():
            if ratchet.warnings is not None:
                ratchet.warnings.append(f"{cause.field}: {cause.message}")
            continue
        causes.append(cause)
    if isinstance(value, dict):
        props = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        for key, child in value.items():
            sub = f"{path}.{key}" if path else key
            old_child = old.get(key) if isinstance(old, dict) else None
            if key in props:
                _walk(child, old_child, props[key], sub, causes, ratchet.key(key))
            elif isinstance(extra, dict):
                _walk(child, old_child, extra, sub, causes, ratchet.key(key))
    elif isinstance(value, list) and isinstance(schema.get("items"), dict):
        for n, item in enumerate(value):
            old_item = map_list_old(schema, old, item)  # only map-list items have an oldSelf
            _walk(item, old_item, schema["items"], f"{path}[{n}]", causes, ratchet.index(n))


def _run(rule: Obj, value: Any, old: Any, path: str) -> tuple[Cause | None, bool]:
    """The rule's cause (None: it holds) and whether ratcheting may forgive it: it evaluated to false
    (not an error) and does not use ``oldSelf``."""
    text = rule.get("rule", "")
    try:
        program = _program(text)
        uses_old = "oldSelf" in program.variables()
        if uses_old and old is None:
            return None, False
        context = {"self": value, "oldSelf": old} if uses_old else {"self": value}
        ok = execute(text, context)
    except Exception as exc:  # a rule that cannot run is a failed rule, worded as the real server's
        shown = (rule.get("message") or "").strip() or text.strip()
        error = error_text(exc)
        if error == library.NO_SUCH_OVERLOAD:
            detail = (
                f"'{error}': call arguments did not match a supported operator, function or macro "
                f"signature for rule: {shown}"
            )
        else:
            detail = f"{error} evaluating rule: {shown}"
        shown_type = json_type_name(value)
        return Cause("FieldValueInvalid", f'Invalid value: "{shown_type}": {detail}', path or "<nil>"), False
    if ok is True:
        return None, False
    message = rule.get("message") or f"failed rule: {text}"
    if rule.get("messageExpression"):
        try:
            context = {"self": value, "oldSelf": old} if old is not None else {"self": value}
            produced = execute(rule["messageExpression"], context)
            if isinstance(produced, str) and produced.strip():
                message = produced
        except Exception:  # the real server falls back to message when messageExpression fails
            pass
    field = (path + rule["fieldPath"] if rule.get("fieldPath") else path).lstrip(".") or "<nil>"
    reason = rule.get("reason") or "FieldValueInvalid"
    if reason == "FieldValueRequired":
        return Cause(reason, f"Required value: {message}", field), not uses_old
    if reason == "FieldValueForbidden":
        return Cause(reason, f"Forbidden: {message}", field), not uses_old
    return Cause(reason, f'Invalid value: "{json_type_name(value)}": {message}', field), not uses_old
