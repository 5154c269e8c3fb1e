"""The pydantic → structural OpenAPI v3 rewriter: one construct per test, expected fragments."""

from __future__ import annotations

import datetime
import enum
import ipaddress
import uuid
from collections.abc import Callable
from typing import Annotated, Any, Literal

import pydantic
import pytest

from kubeloop import crd


def props(model: type[pydantic.BaseModel]) -> dict[str, Any]:
    return crd.openapi_schema(model)["properties"]


def walk(node: Any):
    """Every schema node (dict) in a schema tree."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


class Port(crd.Model):
    """A port the service exposes."""

    port: int
    target_port: int
    node_port: int | None = crd.Field(None, ge=30000, le=32767)


def test_snake_case_fields_get_camel_case_wire_names():
    assert list(props(Port)) == ["port", "targetPort", "nodePort"]


def test_refs_to_nested_models_are_inlined():
    class Spec(crd.Model):
        main: Port
        ports: list[Port]

    schema = crd.openapi_schema(Spec)
    assert not any("$ref" in n or "$defs" in n or "allOf" in n for n in walk(schema))
    assert schema["properties"]["main"]["properties"]["targetPort"] == {"type": "integer"}
    assert schema["properties"]["ports"]["items"]["required"] == ["port", "targetPort"]


def test_optional_becomes_nullable_without_anyof_or_null_default():
    assert props(Port)["nodePort"] == {
        "type": "integer",
        "minimum": 30000,
        "maximum": 32767,
        "nullable": True,
    }


def test_optional_nested_model_is_an_inlined_nullable_object():
    class Spec(crd.Model):
        port: Port | None = None

    node = props(Spec)["port"]
    assert node["type"] == "object"
    assert node["nullable"] is True
    assert "anyOf" not in node


def test_int_or_str_becomes_int_or_string():
    class Spec(crd.Model):
        target: int | str = 8080
        maybe: str | int | None = None

    node = props(Spec)["target"]
    assert node == {
        "anyOf": [{"type": "integer"}, {"type": "string"}],
        "default": 8080,
        "x-kubernetes-int-or-string": True,
    }
    assert props(Spec)["maybe"]["x-kubernetes-int-or-string"] is True
    assert props(Spec)["maybe"]["nullable"] is True
    assert "type" not in props(Spec)["maybe"]


def test_int_or_string_can_be_asked_for_on_a_str_field():
    class Spec(crd.Model):
        quantity: str = crd.Field(x_kubernetes_int_or_string=True)

    assert props(Spec)["quantity"]["x-kubernetes-int-or-string"] is True
    assert "type" not in props(Spec)["quantity"]


def test_exclusive_bounds_use_the_openapi_3_0_boolean_form():
    class Spec(crd.Model):
        ratio: float = crd.Field(gt=0, lt=1)

    assert props(Spec)["ratio"] == {
        "type": "number",
        "minimum": 0,
        "exclusiveMinimum": True,
        "maximum": 1,
        "exclusiveMaximum": True,
    }


def test_const_becomes_a_one_value_enum():
    class Spec(crd.Model):
        mode: Literal["fixed"] = "fixed"

    assert props(Spec)["mode"] == {"type": "string", "enum": ["fixed"], "default": "fixed"}


def test_defaults_are_kept_in_wire_form():
    class Spec(crd.Model):
        size: int = 1
        ports: list[Port] = crd.Field(default=[Port(port=80, target_port=8080)])
        labels: dict[str, str] = crd.Field(default={"app": "x"})

    assert props(Spec)["size"]["default"] == 1
    assert props(Spec)["ports"]["default"] == [{"port": 80, "targetPort": 8080, "nodePort": None}]
    assert props(Spec)["labels"]["default"] == {"app": "x"}


def test_literal_and_enum_become_enums():
    class Color(enum.Enum):
        RED = "red"
        GREEN = "green"

    class Level(enum.IntEnum):
        LOW = 1
        HIGH = 2

    class Spec(crd.Model):
        policy: Literal["Always", "Never"]
        color: Color = Color.RED
        level: Level

    assert props(Spec)["policy"] == {"type": "string", "enum": ["Always", "Never"]}
    assert props(Spec)["color"] == {"type": "string", "enum": ["red", "green"], "default": "red"}
    assert props(Spec)["level"] == {"type": "integer", "enum": [1, 2]}


def test_literal_with_none_is_a_nullable_enum():
    class Spec(crd.Model):
        policy: Literal["a", "b"] | None = None

    policy = props(Spec)["policy"]
    # typing caches Literal["a", "b"] and Literal["b", "a"] as one (they are equal), so the order of
    # the values depends on what the process declared first; the set is what the schema means.
    assert sorted(policy["allOf"][0]["enum"]) == ["a", "b"]
    assert {k: v for k, v in policy.items() if k != "allOf"} == {"type": "string", "nullable": True}
    assert len(policy["allOf"]) == 1


def test_optional_literal_and_enum_check_their_values_under_all_of():
    class Level(enum.IntEnum):
        LOW = 1
        HIGH = 2

    class Spec(crd.Model):
        mode: Literal[3] | None = None
        level: Level | None = None

    assert props(Spec)["mode"] == {"type": "integer", "allOf": [{"enum": [3]}], "nullable": True}
    assert props(Spec)["level"] == {"type": "integer", "allOf": [{"enum": [1, 2]}], "nullable": True}


def test_known_string_formats_and_patterns_are_kept():
    class Spec(crd.Model):
        at: datetime.datetime
        day: datetime.date
        id: uuid.UUID
        ip: ipaddress.IPv4Address
        name: str = crd.Field(pattern=r"^[a-z]+$")

    assert props(Spec)["at"] == {"type": "string", "format": "date-time"}
    assert props(Spec)["day"] == {"type": "string", "format": "date"}
    assert props(Spec)["id"] == {"type": "string", "format": "uuid"}
    assert props(Spec)["ip"] == {"type": "string", "format": "ipv4"}
    assert props(Spec)["name"] == {"type": "string", "pattern": "^[a-z]+$"}


def test_formats_kubernetes_reads_differently_are_dropped():
    class Spec(crd.Model):
        timeout: datetime.timedelta  # pydantic writes ISO 8601, Kubernetes' "duration" is Go's

    assert props(Spec)["timeout"] == {"type": "string"}


def test_length_item_and_property_bounds_are_kept():
    class Spec(crd.Model):
        name: str = crd.Field(min_length=1, max_length=63)
        items: list[int] = crd.Field(min_length=1, max_length=5)
        labels: dict[str, str] = crd.Field(min_length=1, max_length=10)

    assert props(Spec)["name"] == {"type": "string", "minLength": 1, "maxLength": 63}
    assert props(Spec)["items"] == {
        "type": "array",
        "items": {"type": "integer"},
        "minItems": 1,
        "maxItems": 5,
    }
    assert props(Spec)["labels"]["minProperties"] == 1
    assert props(Spec)["labels"]["maxProperties"] == 10


def test_dict_of_t_becomes_additional_properties():
    class Spec(crd.Model):
        labels: dict[str, str]
        ports: dict[str, Port]

    assert props(Spec)["labels"] == {"type": "object", "additionalProperties": {"type": "string"}}
    assert props(Spec)["ports"]["additionalProperties"]["properties"]["targetPort"] == {"type": "integer"}
    assert "properties" not in props(Spec)["ports"]


def test_any_and_dict_of_any_preserve_unknown_fields():
    class Spec(crd.Model):
        anything: Any = None
        config: dict[str, Any] = crd.Field(default={})

    assert props(Spec)["anything"] == {"x-kubernetes-preserve-unknown-fields": True}
    assert props(Spec)["config"] == {
        "type": "object",
        "default": {},
        "x-kubernetes-preserve-unknown-fields": True,
    }


def test_set_becomes_list_type_set_without_unique_items():
    class Spec(crd.Model):
        tags: set[str] = crd.Field(default=set())

    assert props(Spec)["tags"] == {
        "type": "array",
        "items": {"type": "string"},
        "default": [],
        "x-kubernetes-list-type": "set",
    }


def test_list_type_map_with_keys():
    class Spec(crd.Model):
        ports: list[Port] = crd.Field(
            default=[], x_kubernetes_list_type="map", x_kubernetes_list_map_keys=["port"]
        )

    node = props(Spec)["ports"]
    assert node["x-kubernetes-list-type"] == "map"
    assert node["x-kubernetes-list-map-keys"] == ["port"]


def test_preserve_unknown_fields_and_embedded_resource_where_asked():
    @crd.schema(x_kubernetes_preserve_unknown_fields=True)
    class Open(crd.Model):
        known: int = 0

    class Spec(crd.Model):
        open: Open
        template: dict[str, Any] = crd.Field(x_kubernetes_embedded_resource=True)

    assert props(Spec)["open"]["x-kubernetes-preserve-unknown-fields"] is True
    assert props(Spec)["open"]["properties"] == {"known": {"type": "integer", "default": 0}}
    assert props(Spec)["template"] == {
        "type": "object",
        "x-kubernetes-embedded-resource": True,
        "x-kubernetes-preserve-unknown-fields": True,
    }


def test_cel_rules_from_a_field():
    class Spec(crd.Model):
        name: str = crd.Field(
            x_kubernetes_validations=[
                crd.Rule("self.startsWith('app-')", message="name must start with app-"),
                "size(self) < 20",
            ]
        )

    assert props(Spec)["name"]["x-kubernetes-validations"] == [
        {"rule": "self.startsWith('app-')", "message": "name must start with app-"},
        {"rule": "size(self) < 20"},
    ]


def test_cel_rules_from_a_model_annotation():
    @crd.schema(
        x_kubernetes_validations=[
            crd.Rule(
                "self.min <= self.max",
                message="min must not exceed max",
                reason="FieldValueInvalid",
                field_path=".min",
            ),
            crd.Rule(
                "self.max == oldSelf.max", message_expression="'max is immutable'", optional_old_self=True
            ),
        ]
    )
    class Range(crd.Model):
        min: int
        max: int

    class Spec(crd.Model):
        range: Range

    assert props(Spec)["range"]["x-kubernetes-validations"] == [
        {
            "rule": "self.min <= self.max",
            "message": "min must not exceed max",
            "reason": "FieldValueInvalid",
            "fieldPath": ".min",
        },
        {
            "rule": "self.max == oldSelf.max",
            "messageExpression": "'max is immutable'",
            "optionalOldSelf": True,
        },
    ]


def test_descriptions_from_docstrings_and_field_descriptions_and_no_titles():
    class Spec(crd.Model):
        """The desired state."""

        size: int = 1
        """How many replicas."""
        image: str = crd.Field(description="The container image.")
        port: Port = crd.Field(description="The main port.")

    schema = crd.openapi_schema(Spec)
    assert schema["description"] == "The desired state."
    assert schema["properties"]["size"]["description"] == "How many replicas."
    assert schema["properties"]["image"]["description"] == "The container image."
    # The field's description wins over the nested model's docstring.
    assert schema["properties"]["port"]["description"] == "The main port."


def test_no_title_keyword_anywhere_but_a_field_named_title_survives():
    class Spec(crd.Model):
        title: str
        port: Port

    schema = crd.openapi_schema(Spec)
    assert "title" in schema["properties"]
    assert schema["properties"]["title"] == {"type": "string"}
    for node in walk(schema):
        if "type" in node or "x-kubernetes-preserve-unknown-fields" in node:
            assert "title" not in node, node


def test_extra_allow_does_not_leak_additional_properties_next_to_properties():
    schema = crd.openapi_schema(Port)
    assert "additionalProperties" not in schema
    assert "x-kubernetes-preserve-unknown-fields" not in schema


def test_plain_pydantic_models_work_too():
    class Plain(pydantic.BaseModel):
        a: Annotated[int, pydantic.Field(ge=1)]

    assert crd.openapi_schema(Plain) == {
        "type": "object",
        "properties": {"a": {"type": "integer", "minimum": 1}},
        "required": ["a"],
    }


# Unsupported constructs: CRDSchemaError naming the field path.


class Cat(crd.Model):
    meow: bool


class Dog(crd.Model):
    bark: bool


class Node(crd.Model):
    children: list[Node] = crd.Field(default=[])


def test_union_of_two_object_types_fails_naming_the_field_path():
    class Spec(crd.Model):
        pets: list[Cat | Dog]

    class Top(crd.Model):
        spec: Spec

    with pytest.raises(crd.CRDSchemaError, match=r"union of object types") as caught:
        crd.openapi_schema(Top)
    assert caught.value.path == "Top.spec.pets[*]"
    assert caught.value.model == "Spec"
    assert str(caught.value).startswith("Top.spec.pets[*] (in model Spec): union of object types (Cat | Dog)")
    assert "Suggestion: declare one model with an optional field per variant" in str(caught.value)


def test_recursive_model_fails_naming_the_field_path():
    class Tree(crd.Model):
        root: Node

    with pytest.raises(crd.CRDSchemaError, match="recursive model 'Node'") as caught:
        crd.openapi_schema(Tree)
    assert caught.value.path == "Tree.root.children[*]"


@pytest.mark.parametrize(
    ("annotation", "problem"),
    [
        pytest.param(str | bool, "union of boolean | string", id="union-of-scalars"),
        pytest.param(tuple[int, str], "tuples", id="tuple"),
        pytest.param(list[str] | str, "union of array | string", id="list-or-scalar"),
        pytest.param(Literal[1, "a"], "mixed types", id="mixed-literal"),
    ],
)
def test_unsupported_constructs_fail_naming_the_field(annotation, problem):
    Spec = pydantic.create_model("Spec", __base__=crd.Model, bad_field=(annotation, ...))
    with pytest.raises(crd.CRDSchemaError, match=problem) as caught:
        crd.openapi_schema(Spec)
    assert caught.value.path == "Spec.badField"


def test_list_map_keys_must_be_required_or_defaulted():
    class Spec(crd.Model):
        ports: list[Port] = crd.Field(
            default=[], x_kubernetes_list_type="map", x_kubernetes_list_map_keys=["nodePort"]
        )

    with pytest.raises(crd.CRDSchemaError, match="required or have a default") as caught:
        crd.openapi_schema(Spec)
    assert caught.value.path == "Spec.ports[*].nodePort"


def test_list_map_keys_must_name_item_fields():
    class Spec(crd.Model):
        ports: list[Port] = crd.Field(
            default=[], x_kubernetes_list_type="map", x_kubernetes_list_map_keys=["missing"]
        )

    with pytest.raises(crd.CRDSchemaError, match="'missing' is not a field") as caught:
        crd.openapi_schema(Spec)
    assert caught.value.path == "Spec.ports"


@pytest.mark.parametrize(
    ("annotation", "field", "construct", "suggestion"),
    [
        pytest.param(str | bool, {}, "union of boolean | string", "pick one type", id="union"),
        pytest.param(tuple[int, str], {}, "tuples", "use list[T]", id="tuple"),
        pytest.param(Literal[1, "a"], {}, "mixed types", "values of one type", id="mixed-enum"),
        pytest.param(
            set[frozenset[str]], {}, "a set of objects or lists", "x_kubernetes_list_type='map'", id="set"
        ),
        pytest.param(
            list[Port],
            {"x_kubernetes_list_type": "map"},
            "needs x-kubernetes-list-map-keys",
            "add x_kubernetes_list_map_keys",
            id="map-without-keys",
        ),
        pytest.param(
            list[str],
            {"x_kubernetes_list_map_keys": ["name"]},
            "needs x-kubernetes-list-type='map'",
            "add x_kubernetes_list_type='map'",
            id="keys-without-map",
        ),
        pytest.param(
            dict[str, int],
            {"x_kubernetes_list_type": "set"},
            "only for lists",
            "remove",
            id="list-type-on-map",
        ),
    ],
)
def test_refusals_name_the_model_the_field_the_construct_and_a_suggestion(
    annotation, field, construct, suggestion
):
    Inner = pydantic.create_model(
        "Inner", __base__=crd.Model, bad_field=(annotation, crd.Field(default=None, **field))
    )
    Outer = pydantic.create_model("Outer", __base__=crd.Model, items=(list[Inner], ...))
    with pytest.raises(crd.CRDSchemaError) as caught:
        crd.openapi_schema(Outer)
    error = caught.value
    assert error.path == "Outer.items[*].badField"
    assert error.model == "Inner"
    assert construct in error.problem
    assert suggestion in error.suggestion
    assert str(error) == (
        f"Outer.items[*].badField (in model Inner): {error.problem}. Suggestion: {error.suggestion}"
    )


def test_a_type_without_json_schema_names_its_field_and_model():
    class Hooks(crd.Model):
        on_change: Callable[[], None] | None = None

    class Spec(crd.Model):
        hooks: dict[str, list[Hooks]] = crd.Field(default={})

    with pytest.raises(crd.CRDSchemaError, match="no JSON Schema") as caught:
        crd.openapi_schema(Spec)
    assert caught.value.path == "Spec.hooks[*][*].onChange"
    assert caught.value.model == "Hooks"
    assert "Suggestion: give the field a JSON type" in str(caught.value)


def test_a_recursive_model_error_suggests_a_bounded_depth():
    class Tree(crd.Model):
        root: Node

    with pytest.raises(crd.CRDSchemaError) as caught:
        crd.openapi_schema(Tree)
    assert caught.value.model == "Node"
    assert "one model per level" in caught.value.suggestion


def test_schema_error_is_a_kubeloop_error():
    from kubeloop.errors import KubeloopError

    assert issubclass(crd.CRDSchemaError, KubeloopError)
