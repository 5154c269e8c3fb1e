"""Typed kinds: every kind the pinned kube-apiserver serves has one; calling one builds the plain dict
the client sends; the types are TypedDicts over the same dicts; ``validate`` checks on request."""

from __future__ import annotations

import ast
import functools
import gzip
import importlib
import inspect
import json
import pkgutil
from pathlib import Path
from types import ModuleType

import orjson
import pydantic
import pytest
from typing_extensions import is_typeddict

import kubeloop.resources
from kubeloop.resources import Kind, apps_v1, core_v1, events_v1, kind_of, meta_v1, validate

DATA = Path(kubeloop.resources.__file__).parents[1] / "apiserver" / "data" / "openapi.json.gz"


def bound_kinds() -> dict[tuple[str, str, str], Kind]:
    found: dict[tuple[str, str, str], Kind] = {}
    for module in pkgutil.iter_modules(kubeloop.resources.__path__):
        if module.name.startswith("_"):
            continue
        mod = importlib.import_module(f"kubeloop.resources.{module.name}")
        for name in mod.__all__:
            kind = kind_of(getattr(mod, name))
            if kind is not None:
                found[(kind.group, kind.version, kind.kind)] = kind
    return found


def test_every_kind_the_pinned_server_serves_has_a_type_with_its_plural_and_scope() -> None:
    discovery = json.loads(gzip.decompress(DATA.read_bytes()))["discovery"]
    kinds = bound_kinds()
    served = 0
    for document in discovery.values():
        group, _, version = document["groupVersion"].rpartition("/")
        for resource in document["resources"]:
            if "/" in resource["name"]:
                continue  # a subresource
            served += 1
            kind = kinds.get((group, version, resource["kind"]))
            assert kind is not None, f"no type for {document['groupVersion']} {resource['kind']}"
            assert (kind.plural, kind.namespaced) == (resource["name"], resource["namespaced"])
    assert served > 50


@functools.cache
def parsed(module: ModuleType) -> ast.Module:
    return ast.parse(inspect.getsource(module))


def fields(module: ModuleType, name: str) -> dict[str, tuple[str, str | None]]:
    """The fields of class ``name`` as written in ``module``'s source: annotation and docstring (what an
    editor shows on hover)."""
    (cls,) = [n for n in parsed(module).body if getattr(n, "name", "") == name]
    assert isinstance(cls, ast.ClassDef)
    found: dict[str, tuple[str, str | None]] = {}
    for node, after in zip(cls.body, [*cls.body[1:], None], strict=True):
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            doc = (
                after.value.value
                if isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant)
                else None
            )
            found[node.target.id] = (ast.unparse(node.annotation), doc)
    return found


def words(text: str | None) -> str:
    """``text`` without its line breaks, and without the enum list the ``Literal`` carries instead."""
    return " ".join((text or "").split("Possible enum values:")[0].split())


def test_kinds_and_their_fields_carry_the_apis_descriptions_as_docstrings() -> None:
    definitions = json.loads(gzip.decompress(DATA.read_bytes()))["v2"]["definitions"]
    by_kind = {
        (gvk["group"], gvk["version"], gvk["kind"]): schema
        for schema in definitions.values()
        for gvk in schema.get("x-kubernetes-group-version-kind") or ()
    }
    checked = 0
    for module in pkgutil.iter_modules(kubeloop.resources.__path__):
        if module.name.startswith("_"):
            continue
        mod = importlib.import_module(f"kubeloop.resources.{module.name}")
        for name in mod.__all__:
            kind = kind_of(getattr(mod, name))
            schema = by_kind.get((kind.group, kind.version, kind.kind)) if kind and kind.plural else None
            if schema is None:
                continue  # a structure, or a kind the pinned server does not serve by default
            assert words(getattr(mod, name).__doc__) == words(schema.get("description")), name
            for field, (_, doc) in fields(mod, name).items():
                wanted = schema["properties"][field].get("description")
                assert words(doc) == words(wanted), f"{module.name}.{name}.{field}"
                checked += 1
    assert checked > 300


def test_int_or_string_quantities_and_times_are_typed_by_name() -> None:
    assert fields(apps_v1, "RollingUpdateDeployment")["maxSurge"][0] == "IntOrString"
    assert fields(core_v1, "ResourceRequirements")["limits"][0] == "dict[str, Quantity]"
    assert fields(meta_v1, "ObjectMeta")["creationTimestamp"][0] == "Time | None"
    assert fields(events_v1, "Event")["eventTime"][0] == "Required[MicroTime | None]"


def test_calling_a_kind_builds_a_plain_dict_with_api_version_and_kind() -> None:
    deployment = apps_v1.Deployment(metadata={"name": "web"}, spec={"replicas": 2})
    assert type(deployment) is dict
    assert deployment == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"replicas": 2},
    }
    assert orjson.loads(orjson.dumps(deployment)) == deployment
    assert core_v1.ConfigMap(data={"a": "b"})["apiVersion"] == "v1"


def test_a_kind_is_a_typeddict_carrying_its_kind() -> None:
    assert is_typeddict(apps_v1.Deployment)
    assert is_typeddict(core_v1.Container)
    assert kind_of(apps_v1.Deployment) == Kind("apps", "v1", "Deployment", "deployments", True)
    assert kind_of(core_v1.Namespace) == Kind("", "v1", "Namespace", "namespaces", False)
    assert kind_of(core_v1.Container) is None  # a structure, not a kind
    assert kind_of(apps_v1.DeploymentList) == Kind("apps", "v1", "DeploymentList", "", False)


def test_nested_structures_keep_the_api_spelling_enums_and_required_keys() -> None:
    hints = core_v1.Container.__annotations__
    assert "imagePullPolicy" in hints
    assert "image_pull_policy" not in hints
    assert core_v1.Container.__required_keys__ == frozenset({"name"})
    assert core_v1.PullPolicy.__args__ == ("Always", "Never", "IfNotPresent")
    assert apps_v1.DeploymentSpec.__required_keys__ == frozenset({"selector", "template"})


def test_validate_returns_the_same_object_unknown_fields_included() -> None:
    obj = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "futureMeta": {"x": 1}},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"spec": {"containers": [{"name": "main", "newerField": True}]}},
        },
        "fromANewerServer": [1, 2],
    }
    snapshot = json.loads(json.dumps(obj))
    assert validate(apps_v1.Deployment, obj) is obj
    assert obj == snapshot


def test_a_validation_error_names_each_wrong_field_by_its_path() -> None:
    obj = apps_v1.Deployment(
        metadata={"name": "web"},
        spec={
            "replicas": "3",  # type: ignore[typeddict-item]
            "selector": {},
            "template": {"spec": {"containers": [{"name": "main", "imagePullPolicy": "Sometimes"}]}},  # type: ignore[typeddict-item]
        },
    )
    with pytest.raises(pydantic.ValidationError) as caught:
        validate(apps_v1.Deployment, obj)
    paths = {".".join(str(p) for p in error["loc"]) for error in caught.value.errors()}
    assert paths == {"spec.replicas", "spec.template.spec.containers.0.imagePullPolicy"}
