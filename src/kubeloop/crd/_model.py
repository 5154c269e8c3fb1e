"""Model bases for custom resources: ``Model`` for spec/status parts, ``CustomResource`` for the object.

Wire names are camelCase aliases generated from snake_case field names (``target_port`` ↔
``targetPort``); both spellings validate. Unknown fields are kept, never dropped, at every level,
so ``Kind.model_validate(obj).model_dump(by_alias=True, exclude_unset=True)`` gives back what the
server sent, including fields a newer version of the resource added.

Kubernetes schema options that pydantic has no word for are given with ``Field(x_kubernetes_...=)``
on a field and ``@schema(x_kubernetes_...=)`` on a model; ``Rule`` is one CEL validation rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, dataclass_transform

import pydantic
from pydantic import BaseModel, ConfigDict, GetJsonSchemaHandler, PrivateAttr, model_validator
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticUndefined

if TYPE_CHECKING:
    from typing import Self

    from kubeloop.crd._resource import ResourceInfo

__all__ = ["CustomResource", "Field", "Model", "ObjectMeta", "Rule", "schema"]

RuleReason = Literal["FieldValueInvalid", "FieldValueForbidden", "FieldValueRequired", "FieldValueDuplicate"]

# The class attribute ``@crd.resource`` sets; read from the class's own ``__dict__`` (not inherited).
RESOURCE_ATTR = "__kubeloop_resource__"
# The class attribute ``@crd.schema`` sets: extra schema keywords for the model's object node.
SCHEMA_ATTR = "__kubeloop_schema__"


@dataclass(frozen=True)
class Rule:
    """One CEL validation rule (``x-kubernetes-validations`` item), checked by the API server.

    ``rule`` is the CEL expression over ``self`` (and ``oldSelf`` for transition rules); ``message``
    is what the server reports when it is false. ``reason`` is one of the ``FieldValue*`` causes and
    ``field_path`` a JSONPath under the node the rule sits on, naming the field to blame.
    """

    rule: str
    message: str | None = None
    message_expression: str | None = None
    reason: RuleReason | None = None
    field_path: str | None = None
    optional_old_self: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """The rule in its CustomResourceDefinition form (camelCase keys, unset ones left out)."""
        out: dict[str, Any] = {"rule": self.rule}
        for key, value in (
            ("message", self.message),
            ("messageExpression", self.message_expression),
            ("reason", self.reason),
            ("fieldPath", self.field_path),
            ("optionalOldSelf", self.optional_old_self),
        ):
            if value is not None:
                out[key] = value
        return out


def _rule_dict(rule: Rule | str | Mapping[str, Any]) -> dict[str, Any]:
    if isinstance(rule, Rule):
        return rule.to_dict()
    if isinstance(rule, str):
        return {"rule": rule}
    if "rule" not in rule:
        raise ValueError(f"a validation rule needs a 'rule' key: {dict(rule)!r}")
    return dict(rule)


def _kubernetes_keywords(
    *,
    validations: Iterable[Rule | str | Mapping[str, Any]] | None,
    list_type: Literal["atomic", "set", "map"] | None,
    list_map_keys: Sequence[str] | None,
    map_type: Literal["granular", "atomic"] | None,
    preserve_unknown_fields: bool | None,
    embedded_resource: bool | None,
    int_or_string: bool | None,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if validations is not None:
        out["x-kubernetes-validations"] = [_rule_dict(r) for r in validations]
    if list_type is not None:
        out["x-kubernetes-list-type"] = list_type
    if list_map_keys is not None:
        out["x-kubernetes-list-map-keys"] = list(list_map_keys)
    if map_type is not None:
        out["x-kubernetes-map-type"] = map_type
    if preserve_unknown_fields is not None:
        out["x-kubernetes-preserve-unknown-fields"] = preserve_unknown_fields
    if embedded_resource is not None:
        out["x-kubernetes-embedded-resource"] = embedded_resource
    if int_or_string is not None:
        out["x-kubernetes-int-or-string"] = int_or_string
    return out


def Field(  # named like the pydantic function it wraps
    default: Any = PydanticUndefined,
    *,
    x_kubernetes_validations: Iterable[Rule | str | Mapping[str, Any]] | None = None,
    x_kubernetes_list_type: Literal["atomic", "set", "map"] | None = None,
    x_kubernetes_list_map_keys: Sequence[str] | None = None,
    x_kubernetes_map_type: Literal["granular", "atomic"] | None = None,
    x_kubernetes_preserve_unknown_fields: bool | None = None,
    x_kubernetes_embedded_resource: bool | None = None,
    x_kubernetes_int_or_string: bool | None = None,
    **kwargs: Any,
) -> Any:
    """``pydantic.Field`` plus the Kubernetes schema extensions, which land in the CRD schema.

    Every pydantic keyword (``ge``, ``max_length``, ``pattern``, ``description``,
    ``default_factory``, ...) passes through unchanged. ``x_kubernetes_validations`` takes CEL rules
    as ``Rule``, a bare expression string or a dict in CRD form.
    """
    extra = _kubernetes_keywords(
        validations=x_kubernetes_validations,
        list_type=x_kubernetes_list_type,
        list_map_keys=x_kubernetes_list_map_keys,
        map_type=x_kubernetes_map_type,
        preserve_unknown_fields=x_kubernetes_preserve_unknown_fields,
        embedded_resource=x_kubernetes_embedded_resource,
        int_or_string=x_kubernetes_int_or_string,
    )
    if extra:
        given = kwargs.pop("json_schema_extra", None)
        if given is not None and not isinstance(given, Mapping):
            raise TypeError(
                "crd.Field: json_schema_extra must be a dict when x_kubernetes_* options are given"
            )
        kwargs["json_schema_extra"] = {**(given or {}), **extra}
    return pydantic.Field(default, **kwargs)


_M = TypeVar("_M", bound=type[BaseModel])


def schema(
    *,
    x_kubernetes_validations: Iterable[Rule | str | Mapping[str, Any]] | None = None,
    x_kubernetes_map_type: Literal["granular", "atomic"] | None = None,
    x_kubernetes_preserve_unknown_fields: bool | None = None,
    x_kubernetes_embedded_resource: bool | None = None,
) -> Callable[[_M], _M]:
    """Class decorator: Kubernetes schema extensions for a model's own object node.

    Typical use is a CEL rule across fields::

        @crd.schema(x_kubernetes_validations=[crd.Rule("self.min <= self.max", message="min > max")])
        class Range(crd.Model):
            min: int
            max: int

    Subclasses inherit the options; applying the decorator again replaces them.
    """
    extra = _kubernetes_keywords(
        validations=x_kubernetes_validations,
        list_type=None,
        list_map_keys=None,
        map_type=x_kubernetes_map_type,
        preserve_unknown_fields=x_kubernetes_preserve_unknown_fields,
        embedded_resource=x_kubernetes_embedded_resource,
        int_or_string=None,
    )

    def decorate(cls: _M) -> _M:
        if not (isinstance(cls, type) and issubclass(cls, Model)):
            raise TypeError("crd.schema decorates crd.Model subclasses")
        setattr(cls, SCHEMA_ATTR, extra)
        return cls

    return decorate


@dataclass_transform(kw_only_default=True, field_specifiers=(pydantic.Field, PrivateAttr, Field))
class Model(BaseModel):
    """Base of spec, status and their parts: camelCase wire names, unknown fields kept.

    Field docstrings (a string literal right under the field) and ``Field(description=)`` become
    schema descriptions; the class docstring describes the object.
    """

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="allow",
        use_attribute_docstrings=True,
        protected_namespaces=(),  # Kubernetes fields such as ``modelName`` are fine here
    )

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        """Add the ``@crd.schema`` extensions to the model's JSON schema."""
        json_schema = handler(core_schema)
        extra: dict[str, Any] | None = getattr(cls, SCHEMA_ATTR, None)
        if extra:
            target = handler.resolve_ref_schema(json_schema)
            target.update(extra)
        return json_schema


class ObjectMeta(Model):
    """Standard object metadata; the fields an operator commonly reads, every other one kept as extra."""

    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] | None = None
    annotations: dict[str, str] | None = None
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    deletion_timestamp: str | None = None
    finalizers: list[str] | None = None
    owner_references: list[dict[str, Any]] | None = None


class CustomResource(Model):
    """A custom resource object: ``apiVersion``, ``kind``, ``metadata``, ``spec``, ``status``.

    Subclasses declare ``spec`` (and ``status``) with their own models and are declared with
    ``@crd.resource(...)``. ``apiVersion`` and ``kind`` default to the declared ones (and count as
    set, so ``model_dump(exclude_unset=True)`` keeps them); validating an object of another group,
    version or kind fails.
    """

    api_version: str = ""
    kind: str = ""
    metadata: ObjectMeta = pydantic.Field(default_factory=ObjectMeta)
    spec: Any = None
    status: Any = None

    @classmethod
    def resource_info(cls) -> ResourceInfo:
        """The ``@crd.resource`` declaration of this class; raises ``TypeError`` when there is none."""
        info: ResourceInfo | None = cls.__dict__.get(RESOURCE_ATTR)
        if info is None:
            raise TypeError(f"{cls.__qualname__} is not declared with @crd.resource(...)")
        return info

    @model_validator(mode="after")
    def _fill_type_meta(self) -> Self:
        info: ResourceInfo | None = type(self).__dict__.get(RESOURCE_ATTR)
        if info is None:
            return self
        for field, expected in (("api_version", info.api_version), ("kind", info.kind)):
            value = getattr(self, field)
            if field not in self.model_fields_set or not value:
                setattr(self, field, expected)
            elif value != expected:
                wire = "apiVersion" if field == "api_version" else "kind"
                raise ValueError(f"{wire} is {value!r}, {type(self).__qualname__} expects {expected!r}")
        return self
