"""CRD upgrade safety: each rule flags its unsafe change and lets the safe one through."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from kubeloop.olm import OLMError
from kubeloop.olm._safety import Violation, check_crd_upgrade, crd_upgrade_violations

NAME = "widgets.example.com"


def version(name: str, spec: dict[str, Any], *, served: bool = True, storage: bool = False) -> dict[str, Any]:
    """One CRD version whose ``spec`` is an object with the properties ``spec``."""
    root = {"type": "object", "properties": {"spec": {"type": "object", "properties": spec}}}
    return {
        "name": name,
        "served": served,
        "storage": storage,
        "schema": {"openAPIV3Schema": root},
    }


def widgets(
    *versions: dict[str, Any],
    stored: tuple[str, ...] = ("v1",),
    scope: str = "Namespaced",
    conversion: dict[str, Any] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "group": "example.com",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
        "scope": scope,
        "versions": list(versions),
    }
    if conversion is not None:
        spec["conversion"] = conversion
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": NAME},
        "spec": spec,
        "status": {"storedVersions": list(stored)},
    }


def one_field(schema: dict[str, Any]) -> dict[str, Any]:
    """A CRD with one version, v1, whose spec has one field, ``size``."""
    return widgets(version("v1", {"size": schema}, storage=True))


def violations_of(before: dict[str, Any], after: dict[str, Any]) -> list[tuple[str | None, str, str, str]]:
    return [(v.version, v.path, v.rule, v.message) for v in crd_upgrade_violations(before, after)]


INT = {"type": "integer"}
STR = {"type": "string"}
ARRAY = {"type": "array", "items": STR}
MAP = {"type": "object", "additionalProperties": STR}


@pytest.mark.parametrize(
    ("before", "after", "rule", "message"),
    [
        pytest.param(INT, STR, "type", "type changed from integer to string", id="type-changed"),
        pytest.param(STR, {**STR, "enum": ["a", "b"]}, "enum", 'enum added: ["a","b"]', id="enum-added"),
        pytest.param(
            {**STR, "enum": ["a", "b", "c"]},
            {**STR, "enum": ["b", "a"]},
            "enum",
            'enum values removed: ["c"]',
            id="enum-values-removed",
        ),
        pytest.param(INT, {**INT, "default": 3}, "default", "default added: 3", id="default-added"),
        pytest.param(
            {**INT, "default": 3},
            {**INT, "default": 4},
            "default",
            "default changed from 3 to 4",
            id="default-changed",
        ),
        pytest.param({**INT, "default": 3}, INT, "default", "default removed (was 3)", id="default-removed"),
        pytest.param(INT, {**INT, "maximum": 5}, "maximum", "maximum added: 5", id="maximum-added"),
        pytest.param(
            {**INT, "maximum": 10},
            {**INT, "maximum": 5},
            "maximum",
            "maximum lowered from 10 to 5",
            id="maximum-lowered",
        ),
        pytest.param(
            {**STR, "maxLength": 64},
            {**STR, "maxLength": 63},
            "maxLength",
            "maxLength lowered from 64 to 63",
            id="maxLength-lowered",
        ),
        pytest.param(ARRAY, {**ARRAY, "maxItems": 3}, "maxItems", "maxItems added: 3", id="maxItems-added"),
        pytest.param(
            {**MAP, "maxProperties": 8},
            {**MAP, "maxProperties": 4},
            "maxProperties",
            "maxProperties lowered from 8 to 4",
            id="maxProperties-lowered",
        ),
        pytest.param(INT, {**INT, "minimum": 0}, "minimum", "minimum added: 0", id="minimum-added"),
        pytest.param(
            {**INT, "minimum": 1},
            {**INT, "minimum": 2},
            "minimum",
            "minimum raised from 1 to 2",
            id="minimum-raised",
        ),
        pytest.param(
            {**STR, "minLength": 1},
            {**STR, "minLength": 3},
            "minLength",
            "minLength raised from 1 to 3",
            id="minLength-raised",
        ),
        pytest.param(
            {**ARRAY, "minItems": 0},
            {**ARRAY, "minItems": 1},
            "minItems",
            "minItems raised from 0 to 1",
            id="minItems-raised",
        ),
        pytest.param(
            MAP,
            {**MAP, "minProperties": 1},
            "minProperties",
            "minProperties added: 1",
            id="minProperties-added",
        ),
        pytest.param(
            {**INT, "maximum": 10},
            {**INT, "maximum": 10, "exclusiveMaximum": True},
            "exclusiveMaximum",
            "exclusiveMaximum turned on",
            id="exclusiveMaximum-turned-on",
        ),
        pytest.param(
            {**INT, "minimum": 0},
            {**INT, "minimum": 0, "exclusiveMinimum": True},
            "exclusiveMinimum",
            "exclusiveMinimum turned on",
            id="exclusiveMinimum-turned-on",
        ),
        pytest.param(
            STR, {**STR, "pattern": "^[a-z]+$"}, "pattern", 'pattern added: "^[a-z]+$"', id="pattern-added"
        ),
        pytest.param(
            {**STR, "pattern": "^[a-z]+$"},
            {**STR, "pattern": "^[a-z0-9]+$"},
            "pattern",
            'pattern changed from "^[a-z]+$" to "^[a-z0-9]+$"',
            id="pattern-changed",
        ),
        pytest.param(
            {**STR, "pattern": "^[a-z]+$"},
            STR,
            "pattern",
            'pattern removed (was "^[a-z]+$")',
            id="pattern-removed",
        ),
        pytest.param(STR, {**STR, "nullable": True}, "nullable", "nullable turned on", id="nullable-on"),
        pytest.param({**STR, "nullable": True}, STR, "nullable", "nullable turned off", id="nullable-off"),
        pytest.param(
            {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            {"type": "object"},
            "x-kubernetes-preserve-unknown-fields",
            "x-kubernetes-preserve-unknown-fields turned off",
            id="preserve-unknown-fields-off",
        ),
        pytest.param(
            {**STR, "format": "date"},
            {**STR, "format": "date-time"},
            "unhandled",
            'format changed from "date" to "date-time"',
            id="unhandled-format",
        ),
        pytest.param(
            INT,
            {**INT, "x-kubernetes-validations": [{"rule": "self > 0"}]},
            "unhandled",
            'x-kubernetes-validations changed from unset to [{"rule":"self > 0"}]',
            id="unhandled-cel-rule-added",
        ),
        pytest.param(
            INT,
            {**INT, "multipleOf": 2},
            "unhandled",
            "multipleOf changed from unset to 2",
            id="unhandled-multipleOf",
        ),
    ],
)
def test_unsafe_field_change_is_flagged_with_rule_and_message(before, after, rule, message):
    assert violations_of(one_field(before), one_field(after)) == [("v1", ".spec.size", rule, message)]


@pytest.mark.parametrize(
    ("before", "after"),
    [
        pytest.param({**INT, "maximum": 5}, {**INT, "maximum": 10}, id="maximum-raised"),
        pytest.param({**INT, "maximum": 5}, INT, id="maximum-dropped"),
        pytest.param({**INT, "minimum": 2}, {**INT, "minimum": 1}, id="minimum-lowered"),
        pytest.param({**STR, "minLength": 2}, STR, id="minLength-dropped"),
        pytest.param({**STR, "maxLength": 8}, {**STR, "maxLength": 16}, id="maxLength-raised"),
        pytest.param({**ARRAY, "minItems": 2}, {**ARRAY, "minItems": 1}, id="minItems-lowered"),
        pytest.param({**MAP, "maxProperties": 2}, {**MAP, "maxProperties": 3}, id="maxProperties-raised"),
        pytest.param({**STR, "enum": ["a"]}, {**STR, "enum": ["a", "b"]}, id="enum-value-added"),
        pytest.param({**STR, "enum": ["a"]}, STR, id="enum-dropped"),
        pytest.param({**INT, "default": 3}, {**INT, "default": 3}, id="default-unchanged"),
        pytest.param(
            {**INT, "exclusiveMinimum": True, "minimum": 0}, {**INT, "minimum": 0}, id="exclusive-off"
        ),
        pytest.param(
            {"type": "object"},
            {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            id="preserve-unknown-fields-on",
        ),
        pytest.param(
            {**INT, "description": "How many."},
            {**INT, "description": "How many pods.", "title": "Size", "example": 3},
            id="documentation-changed",
        ),
        pytest.param(
            {**INT, "x-kubernetes-int-or-string": False, "nullable": False}, INT, id="false-is-unset"
        ),
    ],
)
def test_safe_field_change_is_allowed(before, after):
    assert violations_of(one_field(before), one_field(after)) == []


def test_adding_an_optional_field_is_allowed():
    before = widgets(version("v1", {"size": INT}, storage=True))
    after = widgets(version("v1", {"size": INT, "paused": {"type": "boolean"}}, storage=True))
    assert violations_of(before, after) == []


def required(fields: list[str], **spec: dict[str, Any]) -> dict[str, Any]:
    crd = widgets(version("v1", spec, storage=True))
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["required"] = fields
    return crd


def test_a_field_that_becomes_required_is_flagged_at_its_own_path():
    before = required(["image"], image=STR, size=INT)
    after = required(["image", "size"], image=STR, size=INT)
    assert violations_of(before, after) == [("v1", ".spec.size", "required", "field became required")]


def test_a_new_field_that_is_required_is_flagged():
    before = required([], size=INT)
    after = required(["image"], size=INT, image=STR)
    assert violations_of(before, after) == [("v1", ".spec.image", "required", "field became required")]


def test_a_field_that_stops_being_required_is_allowed():
    assert violations_of(required(["size"], size=INT), required([], size=INT)) == []


def test_a_removed_field_is_flagged_once_at_the_topmost_path():
    ports = {"type": "array", "items": {"type": "object", "properties": {"port": INT, "name": STR}}}
    before = widgets(version("v1", {"size": INT, "ports": ports}, storage=True))
    after = widgets(version("v1", {"size": INT}, storage=True))
    assert violations_of(before, after) == [("v1", ".spec.ports", "existingFieldRemoval", "field removed")]


@pytest.mark.parametrize(
    ("field", "before", "after", "path"),
    [
        pytest.param(
            "items",
            {"type": "array", "items": {"type": "object", "properties": {"port": {**INT, "maximum": 10}}}},
            {"type": "array", "items": {"type": "object", "properties": {"port": {**INT, "maximum": 5}}}},
            ".spec.items[*].port",
            id="array-items",
        ),
        pytest.param(
            "limits",
            {"type": "object", "additionalProperties": {**INT, "maximum": 10}},
            {"type": "object", "additionalProperties": {**INT, "maximum": 5}},
            ".spec.limits.*",
            id="map-values",
        ),
        pytest.param(
            "matrix",
            {"type": "array", "items": {"type": "array", "items": {**INT, "maximum": 10}}},
            {"type": "array", "items": {"type": "array", "items": {**INT, "maximum": 5}}},
            ".spec.matrix[*][*]",
            id="nested-arrays",
        ),
        pytest.param(
            "example.com/size",
            {**INT, "maximum": 10},
            {**INT, "maximum": 5},
            '.spec["example.com/size"]',
            id="name-with-dots",
        ),
    ],
)
def test_nested_paths_are_reported(field, before, after, path):
    old = widgets(version("v1", {field: before}, storage=True))
    new = widgets(version("v1", {field: after}, storage=True))
    assert violations_of(old, new) == [("v1", path, "maximum", "maximum lowered from 10 to 5")]


def test_a_change_at_the_schema_root_is_reported_at_dot():
    before = widgets(version("v1", {}, storage=True))
    after = copy.deepcopy(before)
    after["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["x-kubernetes-validations"] = [{"rule": "true"}]
    assert violations_of(before, after) == [
        ("v1", ".", "unhandled", 'x-kubernetes-validations changed from unset to [{"rule":"true"}]')
    ]


def test_a_scope_change_is_flagged_crd_wide():
    before = widgets(version("v1", {}, storage=True))
    after = widgets(version("v1", {}, storage=True), scope="Cluster")
    (violation,) = crd_upgrade_violations(before, after)
    assert violation == Violation(NAME, None, "", "scope", "scope changed from Namespaced to Cluster")
    assert str(violation) == "widgets.example.com: scope changed from Namespaced to Cluster"


def test_removing_a_stored_version_is_flagged_naming_it():
    before = widgets(version("v1", {}), version("v2", {}, storage=True), stored=("v1", "v2"))
    after = widgets(version("v2", {}, storage=True), stored=("v1", "v2"))
    assert crd_upgrade_violations(before, after) == [
        Violation(NAME, "v1", "", "storedVersionRemoval", "stored version removed from spec.versions")
    ]


def test_removing_a_served_version_that_is_not_stored_is_allowed():
    before = widgets(version("v1", {}), version("v2", {}, storage=True), stored=("v2",))
    after = widgets(version("v2", {}, storage=True), stored=("v2",))
    assert violations_of(before, after) == []


def test_adding_a_served_version_is_allowed():
    before = widgets(version("v1", {"size": INT}, storage=True))
    after = widgets(
        version("v1", {"size": INT}),
        version("v2", {"size": INT, "paused": {"type": "boolean"}}, storage=True),
    )
    assert violations_of(before, after) == []


def test_a_new_served_version_narrower_than_an_older_one_is_flagged_as_a_pair():
    before = widgets(version("v1", {"size": {**INT, "maximum": 10}}, storage=True))
    after = widgets(
        version("v1", {"size": {**INT, "maximum": 10}}, storage=True),
        version("v2", {"size": {**INT, "maximum": 5}}),
    )
    assert violations_of(before, after) == [
        ("v1 -> v2", ".spec.size", "maximum", "maximum lowered from 10 to 5")
    ]


def test_a_new_version_that_is_not_served_is_not_compared():
    before = widgets(version("v1", {"size": {**INT, "maximum": 10}}, storage=True))
    after = widgets(
        version("v1", {"size": {**INT, "maximum": 10}}, storage=True),
        version("v2", {"size": {**INT, "maximum": 5}}, served=False),
    )
    assert violations_of(before, after) == []


def test_served_versions_are_not_compared_when_a_webhook_converts():
    before = widgets(version("v1", {"size": INT}, storage=True))
    after = widgets(
        version("v1", {"size": INT}, storage=True),
        version("v2", {"replicas": INT}),
        conversion={"strategy": "Webhook"},
    )
    assert violations_of(before, after) == []


def narrowed_pair(v2_extra: dict[str, Any]) -> dict[str, Any]:
    """v1 (stored) and v2 served, v2's ``size`` narrower than v1's: a pair problem from the start."""
    name = {"name": STR}
    return widgets(
        version("v1", {"size": {**INT, "maximum": 10}, **name}, storage=True),
        version("v2", {"size": {**INT, "maximum": 5}, **name, **v2_extra}),
    )


def test_a_served_pair_problem_the_cluster_already_has_is_not_reported_again():
    assert violations_of(narrowed_pair({}), narrowed_pair({"paused": {"type": "boolean"}})) == []


def test_a_new_served_pair_problem_is_reported_beside_an_existing_one():
    after = narrowed_pair({"name": {**STR, "minLength": 1}})
    assert violations_of(narrowed_pair({}), after) == [
        ("v2", ".spec.name", "minLength", "minLength added: 1"),
        ("v1 -> v2", ".spec.name", "minLength", "minLength added: 1"),
    ]


def test_served_pairs_run_older_to_newer_in_kubernetes_version_order():
    before = widgets(version("v1", {"size": {**INT, "maximum": 10}}, storage=True))
    after = widgets(
        version("v1", {"size": {**INT, "maximum": 10}}, storage=True),
        version("v1beta1", {"size": {**INT, "maximum": 20}}),
        version("v2alpha1", {"size": {**INT, "maximum": 30}}),
        version("custom", {"size": {**INT, "maximum": 40}}),
    )
    assert [found[0] for found in violations_of(before, after)] == [
        "custom -> v2alpha1",
        "custom -> v1beta1",
        "custom -> v1",
        "v2alpha1 -> v1beta1",
        "v2alpha1 -> v1",
        "v1beta1 -> v1",
    ]


def test_identical_crds_have_no_violation():
    crd = narrowed_pair(
        {"ports": {"type": "array", "items": {"type": "object", "properties": {"port": INT}}}}
    )
    assert violations_of(crd, copy.deepcopy(crd)) == []


def several() -> tuple[dict[str, Any], dict[str, Any]]:
    before = widgets(
        version("v1", {"size": {**INT, "maximum": 10}, "image": STR}),
        version("v2", {"size": {**INT, "maximum": 10}, "image": STR}, storage=True),
        stored=("v1", "v2"),
    )
    after = widgets(
        version("v2", {"size": {**INT, "maximum": 5}}, storage=True), scope="Cluster", stored=("v1", "v2")
    )
    return before, after


def test_several_violations_are_all_reported_in_order():
    assert violations_of(*several()) == [
        (None, "", "scope", "scope changed from Namespaced to Cluster"),
        ("v1", "", "storedVersionRemoval", "stored version removed from spec.versions"),
        ("v2", ".spec.size", "maximum", "maximum lowered from 10 to 5"),
        ("v2", ".spec.image", "existingFieldRemoval", "field removed"),
    ]


def test_check_raises_one_line_listing_every_violation():
    with pytest.raises(OLMError) as raised:
        check_crd_upgrade(*several())
    assert str(raised.value) == (
        "CRD upgrade of widgets.example.com is unsafe: scope changed from Namespaced to Cluster; "
        "v1: stored version removed from spec.versions; v2 .spec.size: maximum lowered from 10 to 5; "
        "v2 .spec.image: field removed"
    )


def test_check_passes_a_safe_upgrade():
    before = widgets(version("v1", {"size": INT}, storage=True))
    check_crd_upgrade(
        before, widgets(version("v1", {"size": INT, "paused": {"type": "boolean"}}, storage=True))
    )


def test_a_violation_reads_as_one_line_naming_crd_version_and_path():
    violation = Violation(NAME, "v1", ".spec.size", "maximum", "maximum lowered from 10 to 5")
    assert str(violation) == "widgets.example.com v1 .spec.size: maximum lowered from 10 to 5"
