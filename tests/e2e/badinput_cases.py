"""Hypothesis strategies for odd AppServices (``test_appservice_bad_input.py``): names of every shape,
huge and invalid labels and annotations, finalizers of another party, owner references to objects
that do not exist, and specs and statuses of any JSON type (a schema-less CRD lets them through).

Sizes that the model accepts stay at 0 to 2 replicas and explicit node ports in 31000-31999, so that a
thousand objects stay cheap for the cluster and never take a node port another test asks for.
"""

from __future__ import annotations

import bisect
import copy
import itertools
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st


def weighted(*choices: tuple[int, st.SearchStrategy[Any]]) -> st.SearchStrategy[Any]:
    """One of ``choices``, picked in proportion to its weight (the first is what examples shrink to)."""
    bounds = list(itertools.accumulate(weight for weight, _ in choices))

    def pick(n: int) -> st.SearchStrategy[Any]:
        return choices[bisect.bisect_right(bounds, n)][1]

    return st.integers(0, bounds[-1] - 1).flatmap(pick)


# Any unicode but lone surrogates, which no JSON encoder sends.
characters = st.characters(exclude_categories=["Cs"])


def text(min_size: int = 0, max_size: int = 8) -> st.SearchStrategy[str]:
    return st.text(characters, min_size=min_size, max_size=max_size)


GROUP_VERSION = "app.example.com/v1"
INT64_MAX = 2**63 - 1  # JSON integers beyond int64 are not integers to the API server (nor to orjson)
FOREIGN_FINALIZERS = ["badinput.example.com/hold", "hold", "other.example.org/keep-until-done"]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    text(max_size=8),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


@dataclass(frozen=True)
class Case:
    """One odd AppService: how to name it, its metadata, its body, and what happens to it later."""

    name_style: str
    name_text: str
    labels: dict[str, str] = field(default_factory=dict)
    many_labels: int = 0
    annotations: dict[str, str] = field(default_factory=dict)
    annotation_bytes: int = 0
    finalizers: list[str] = field(default_factory=list)
    owner_references: list[dict[str, Any]] = field(default_factory=list)
    body: dict[str, Any] = field(default_factory=dict)
    """``spec`` (any JSON value, or absent) and unknown top-level fields."""
    garbage_status: dict[str, Any] | None = None
    """``{"status": value}`` written through the status subresource once the object settled."""
    delete: bool = False
    """Delete the object once settled (it stays while a foreign finalizer holds it)."""

    def name(self, index: int) -> str | None:
        """The object's name; ``index`` makes it unique without changing its shape."""
        text, n = self.name_text, f"{index:05d}"
        match self.name_style:
            case "missing":
                return None
            case "long":  # exactly len(text) + 6 characters: around 63 (labels, Services) and 253
                return f"x{n}{text}"
            case "digit-first" | "dotted" | "plain":
                return f"{n}{text}" if self.name_style == "digit-first" else f"{text}-{n}"
            case _:  # unicode, upper case, anything: the server decides
                return f"{text}{n}"

    def object(self, index: int) -> dict[str, Any]:
        """The AppService as sent to the API server."""
        meta: dict[str, Any] = {}
        name = self.name(index)
        if name is not None:
            meta["name"] = name
        labels = dict(self.labels)
        labels.update({f"badinput.example.com/l{i}": "v" * 63 for i in range(self.many_labels)})
        if labels:
            meta["labels"] = labels
        annotations = dict(self.annotations)
        if self.annotation_bytes:
            annotations["badinput.example.com/big"] = "a" * self.annotation_bytes
        if annotations:
            meta["annotations"] = annotations
        if self.finalizers:
            meta["finalizers"] = list(self.finalizers)
        if self.owner_references:
            meta["ownerReferences"] = copy.deepcopy(self.owner_references)
        return {
            "apiVersion": GROUP_VERSION,
            "kind": "AppService",
            "metadata": meta,
            **copy.deepcopy(self.body),
        }


# -- names ----------------------------------------------------------------------------------------

_lower = st.from_regex(r"\A[a-z]([a-z0-9-]{0,10}[a-z0-9])?\Z")
names = weighted(
    (55, st.tuples(st.just("plain"), _lower)),
    (8, st.tuples(st.just("digit-first"), st.from_regex(r"\A[a-z0-9]{0,6}\Z"))),
    (8, st.tuples(st.just("dotted"), st.from_regex(r"\A[a-z]{1,6}(\.[a-z0-9]{1,6}){1,3}\Z"))),
    (10, st.tuples(st.just("long"), st.integers(50, 260).map(lambda n: "a" * n))),
    (7, st.tuples(st.just("unicode"), text(min_size=1, max_size=12))),
    (6, st.tuples(st.just("upper"), st.from_regex(r"\A[A-Z][A-Za-z]{0,6}\Z"))),
    (6, st.tuples(st.just("missing"), st.just(""))),
)

# -- metadata -------------------------------------------------------------------------------------

label_keys = st.one_of(
    st.from_regex(r"\A[a-z]{1,8}\Z"),
    st.from_regex(r"\A[a-z]{1,8}\.example\.com/[a-z]{1,8}\Z"),
    st.integers(60, 70).map(lambda n: "k" * n),  # a name part longer than 63 is refused
    text(min_size=1, max_size=6),
)
label_values = st.one_of(
    st.from_regex(r"\A[a-z0-9]{0,8}\Z"),
    st.integers(60, 70).map(lambda n: "v" * n),
    text(max_size=6),
)
valid_labels = st.dictionaries(
    st.from_regex(r"\A([a-z]{1,8}\.example\.com/)?[a-z]{1,8}\Z"),
    st.from_regex(r"\A[a-z0-9]{0,8}\Z"),
    max_size=4,
)
owner_references = st.lists(
    st.fixed_dictionaries(
        {
            "apiVersion": st.sampled_from(["v1", "apps/v1", GROUP_VERSION, "nothing.example.com/v1"]),
            "kind": st.sampled_from(["ConfigMap", "Deployment", "AppService", "Nothing"]),
            "name": st.from_regex(r"\Aghost-[a-z0-9]{1,6}\Z"),
        },
        optional={
            "uid": st.uuids().map(str),
            "controller": st.booleans(),
            "blockOwnerDeletion": st.booleans(),
        },
    ),
    max_size=2,
)

# -- spec -----------------------------------------------------------------------------------------

sizes = st.one_of(
    st.integers(0, 2),
    st.integers(0, 2),
    st.integers(-(2**40), -1),
    st.integers(101, INT64_MAX),
    st.floats(allow_nan=False, max_value=2.0) | st.floats(min_value=1000, allow_infinity=False),
    st.sampled_from(["", "two", "1", "1e3", " 2", "0x10", "NaN"]),
    st.booleans(),
    st.none(),
    st.lists(st.integers(0, 2), max_size=2),
)
images = st.one_of(
    st.just("nginx:1.27"),
    st.from_regex(r"\A[a-z]{1,8}(/[a-z]{1,8})?(:[0-9]{1,2}(\.[0-9]{1,2})?)?\Z"),
    text(max_size=12),  # empty, blank, unicode, control characters
    st.integers(1000, 100_000).map(lambda n: "i" * n),
    st.integers(-INT64_MAX - 1, INT64_MAX),
    st.none(),
    st.lists(text(max_size=4), max_size=2),
    st.dictionaries(text(max_size=4), text(max_size=4), max_size=2),
)
port_numbers = st.one_of(
    st.integers(1, 65535),
    st.integers(1, 65535),
    st.integers(-5, 0),
    st.integers(65536, 2**40),
    text(max_size=4),
    st.none(),
)
node_ports = st.one_of(
    st.integers(31000, 31999), st.integers(0, 29999), st.integers(32768, 70000), json_scalars
)
ports = st.one_of(
    st.fixed_dictionaries(
        {"port": port_numbers, "targetPort": port_numbers},
        optional={"nodePort": node_ports, "name": text(max_size=8)},
    ),
    st.fixed_dictionaries({}, optional={"port": port_numbers, "targetPort": port_numbers}),
    json_scalars,
)
spec_objects = st.fixed_dictionaries(
    {},
    optional={
        "size": sizes,
        "image": images,
        "ports": st.one_of(st.lists(ports, max_size=4), json_values),
        "unknownField": json_values,
        "replicas": st.integers(0, 3),  # a field of a different API
    },
)
valid_specs = st.fixed_dictionaries(
    {
        "size": st.integers(0, 2),
        "image": st.just("nginx:1.27"),
        "ports": st.lists(
            st.fixed_dictionaries(
                {"port": st.integers(1, 65535), "targetPort": st.integers(1, 65535)},
                optional={"nodePort": st.integers(31000, 31999)},
            ),
            min_size=1,
            max_size=3,
            unique_by=lambda port: port["port"],
        ),
    },
)
bodies = weighted(
    (35, st.fixed_dictionaries({"spec": valid_specs})),
    (40, st.fixed_dictionaries({"spec": spec_objects})),
    (10, st.fixed_dictionaries({"spec": json_values})),
    (5, st.fixed_dictionaries({"spec": valid_specs | spec_objects, "extra": json_values})),  # unknown field
    (10, st.just({})),  # no spec at all
)
garbage_statuses = st.one_of(
    json_scalars,
    st.lists(json_scalars, max_size=2),
    st.fixed_dictionaries(
        {"conditions": st.one_of(json_scalars, st.lists(json_values, min_size=1, max_size=2))}
    ),
    st.fixed_dictionaries({"readyReplicas": text(max_size=4), "nodePorts": json_values}),
).map(lambda value: {"status": value})


@st.composite
def cases(draw: st.DrawFn) -> Case:
    """One odd AppService."""
    name_style, name_text = draw(names)
    many = draw(weighted((85, st.just(0)), (15, st.integers(1, 400))))
    big = draw(weighted((85, st.just(0)), (15, st.integers(1, 300_000))))
    finalizers = draw(
        weighted(
            (75, st.just([])), (25, st.lists(st.sampled_from(FOREIGN_FINALIZERS), min_size=1, unique=True))
        )
    )
    return Case(
        name_style=name_style,
        name_text=name_text,
        labels=draw(
            weighted((85, valid_labels), (15, st.dictionaries(label_keys, label_values, max_size=4)))
        ),
        many_labels=many,
        annotations=draw(
            weighted((85, st.just({})), (15, st.dictionaries(label_keys, text(max_size=20), max_size=3)))
        ),
        annotation_bytes=big,
        finalizers=finalizers,
        owner_references=draw(weighted((85, st.just([])), (15, owner_references))),
        body=draw(bodies),
        garbage_status=draw(weighted((85, st.none()), (15, garbage_statuses))),
        delete=draw(st.booleans()) if finalizers else False,
    )
