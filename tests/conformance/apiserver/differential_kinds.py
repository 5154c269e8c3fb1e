"""What the differential run writes: per kind (ConfigMap, Secret, Service, Deployment and a custom
kind with a schema, a CEL rule, status and scale subresources), hypothesis strategies of bodies meant to
be accepted and of bodies meant to be refused (missing fields, wrong types, bad values), status bodies
and JSON patches."""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

GROUP = "differential.kubeloop.dev"
FINALIZER = f"{GROUP}/hold"
Body = dict[str, Any]

CRD: Body = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": f"gizmos.{GROUP}"},
    "spec": {
        "group": GROUP,
        "scope": "Namespaced",
        "names": {"plural": "gizmos", "singular": "gizmo", "kind": "Gizmo"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {
                    "status": {},
                    "scale": {"specReplicasPath": ".spec.size", "statusReplicasPath": ".status.ready"},
                },
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["image"],
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "!has(self.maxSize) || self.size <= self.maxSize",
                                        "message": "size must not exceed maxSize",
                                    }
                                ],
                                "properties": {
                                    "image": {"type": "string", "pattern": "^[a-z0-9./:-]+$"},
                                    "size": {"type": "integer", "minimum": 0, "maximum": 10, "default": 1},
                                    "maxSize": {"type": "integer"},
                                    "mode": {"type": "string", "enum": ["fast", "safe"]},
                                    "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                                },
                            },
                            "status": {
                                "type": "object",
                                "properties": {"ready": {"type": "integer", "minimum": 0}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


@dataclass(frozen=True)
class Kind:
    name: str
    api_version: str
    plural: str
    valid: st.SearchStrategy[Body]
    invalid: st.SearchStrategy[Body]
    json_ops: st.SearchStrategy[list[Body]]
    sentinel: Body
    status: st.SearchStrategy[Body] | None = None
    scale: bool = False
    strategic: bool = True

    def collection(self, namespace: str) -> str:
        prefix = "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"
        return f"{prefix}/namespaces/{namespace}/{self.plural}"


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


_KEYS = st.sampled_from(["a", "b", "c.txt"])
_TEXT = st.sampled_from(["x", "y", ""])
_COMMON_OPS = st.sampled_from(
    [
        [{"op": "add", "path": "/metadata/labels/extra", "value": "j"}],
        [{"op": "remove", "path": "/metadata/labels/extra"}],
        [
            {"op": "test", "path": "/metadata/labels/extra", "value": "a"},
            {"op": "remove", "path": "/metadata/labels/extra"},
        ],
        [{"op": "replace", "path": "/metadata/name", "value": "renamed"}],
        [{"op": "add", "path": "/metadata/finalizers", "value": [FINALIZER]}],
        [{"op": "remove", "path": "/metadata/finalizers"}],
        [{"op": "frobnicate", "path": "/metadata/labels"}],
        [{"op": "add", "path": "/metadata/labels/bad key", "value": "x"}],
    ]
)


def _ops(*specific: list[Body]) -> st.SearchStrategy[list[Body]]:
    return st.one_of(_COMMON_OPS, st.sampled_from(list(specific)))


CONFIGMAP = Kind(
    "ConfigMap",
    "v1",
    "configmaps",
    valid=st.fixed_dictionaries(
        {},
        optional={
            "data": st.dictionaries(_KEYS, _TEXT, max_size=2),
            "binaryData": st.dictionaries(st.just("bin"), st.sampled_from(["eA==", ""]), max_size=1),
            "immutable": st.sampled_from([False, True]),
        },
    ),
    invalid=st.sampled_from(
        [
            {"data": {"bad key!": "x"}},
            {"data": {"a": 1}},
            {"data": "x"},
            {"binaryData": {"bin": "!!"}},
            {"data": {"a": "x"}, "binaryData": {"a": "eA=="}},
            {"immutable": "yes"},
        ]
    ),
    json_ops=_ops(
        [{"op": "add", "path": "/data", "value": {"a": "z"}}],
        [{"op": "replace", "path": "/data/a", "value": "w"}],
        [{"op": "add", "path": "/data/b", "value": 5}],
        [{"op": "remove", "path": "/data"}],
    ),
    sentinel={"data": {"a": "x"}},
)

SECRET = Kind(
    "Secret",
    "v1",
    "secrets",
    valid=st.fixed_dictionaries(
        {},
        optional={
            "type": st.just("Opaque"),
            "data": st.dictionaries(_KEYS, _TEXT.map(_b64), max_size=2),
            "stringData": st.dictionaries(_KEYS, _TEXT, max_size=2),
        },
    ),
    invalid=st.sampled_from(
        [
            {"data": {"a": "not base64!"}},
            {"type": "kubernetes.io/tls", "data": {"tls.crt": _b64("x")}},
            {"data": {"bad key!": _b64("x")}},
            {"type": 5},
            {"stringData": {"a": 1}},
        ]
    ),
    json_ops=_ops(
        [{"op": "add", "path": "/stringData", "value": {"a": "z"}}],
        [{"op": "replace", "path": "/type", "value": "kubernetes.io/basic-auth"}],
        [{"op": "add", "path": "/data", "value": {"b": "!"}}],
    ),
    sentinel={"type": "Opaque"},
)

_PORT = st.fixed_dictionaries(
    {"port": st.sampled_from([80, 443])},
    optional={"targetPort": st.sampled_from([8080, "http"]), "protocol": st.sampled_from(["TCP", "UDP"])},
)
_TWO_PORTS = st.just([{"name": "a", "port": 80}, {"name": "b", "port": 81, "protocol": "UDP"}])

SERVICE = Kind(
    "Service",
    "v1",
    "services",
    valid=st.fixed_dictionaries(
        {
            "spec": st.fixed_dictionaries(
                {"ports": st.one_of(_PORT.map(lambda p: [p]), _TWO_PORTS)},
                optional={
                    "type": st.sampled_from(["ClusterIP", "NodePort"]),
                    "selector": st.just({"app": "x"}),
                },
            )
        }
    ),
    invalid=st.sampled_from(
        [
            {"spec": {"ports": []}},
            {"spec": {"ports": [{"port": 0}]}},
            {"spec": {"ports": [{"port": 70000}]}},
            {"spec": {"ports": [{"port": 80, "protocol": "XXX"}]}},
            {"spec": {"type": "Bogus", "ports": [{"port": 80}]}},
            {"spec": {"ports": [{"port": 80}, {"port": 81}]}},
            {"spec": {"ports": [{"port": "80"}]}},
            {"spec": {"ports": [{"name": "a", "port": 80}, {"name": "a", "port": 81}]}},
        ]
    ),
    json_ops=_ops(
        [{"op": "replace", "path": "/spec/ports/0/port", "value": 81}],
        [{"op": "replace", "path": "/spec/type", "value": "NodePort"}],
        [{"op": "add", "path": "/spec/ports/-", "value": {"port": 9}}],
        # the kubernetes Service's IP on both servers, never another's: a change of a set clusterIP
        # (10.0.0.77 was the embedded server's lowest free IP for some sequences: no change there)
        [{"op": "replace", "path": "/spec/clusterIP", "value": "10.0.0.1"}],
    ),
    sentinel={"spec": {"ports": [{"port": 80}]}},
    status=st.sampled_from(
        [{"status": {"loadBalancer": {}}}, {"status": {"loadBalancer": {"ingress": [{"ip": "bogus"}]}}}]
    ),
)


def _template(app: str, containers: list[Body]) -> Body:
    return {"metadata": {"labels": {"app": app}}, "spec": {"containers": containers}}


_CONTAINERS = st.sampled_from(
    [[{"name": "c", "image": "nginx"}], [{"name": "c", "image": "busybox:1"}, {"name": "d", "image": "x"}]]
)

DEPLOYMENT = Kind(
    "Deployment",
    "apps/v1",
    "deployments",
    valid=st.builds(
        lambda app, containers, extra: {
            "spec": {
                "selector": {"matchLabels": {"app": app}},
                "template": _template(app, containers),
                **extra,
            }
        },
        st.sampled_from(["x", "y"]),
        _CONTAINERS,
        st.fixed_dictionaries(
            {},
            optional={
                "replicas": st.integers(0, 2),
                "strategy": st.sampled_from([{"type": "Recreate"}, {"type": "RollingUpdate"}]),
                "minReadySeconds": st.integers(0, 5),
            },
        ),
    ),
    invalid=st.sampled_from(
        [
            {"spec": {"template": _template("x", [{"name": "c", "image": "nginx"}])}},
            {
                "spec": {
                    "selector": {"matchLabels": {"app": "x"}},
                    "template": _template("z", [{"name": "c", "image": "n"}]),
                }
            },
            {
                "spec": {
                    "replicas": -1,
                    "selector": {"matchLabels": {"app": "x"}},
                    "template": _template("x", [{"name": "c", "image": "n"}]),
                }
            },
            {
                "spec": {
                    "replicas": "two",
                    "selector": {"matchLabels": {"app": "x"}},
                    "template": _template("x", []),
                }
            },
            {
                "spec": {
                    "selector": {"matchLabels": {"app": "x"}},
                    "template": _template("x", [{"name": "c"}]),
                }
            },
            {"spec": {"selector": {"matchLabels": {"app": "x"}}, "template": _template("x", [])}},
            {
                "spec": {
                    "selector": {"matchLabels": {"app": "x"}},
                    "template": _template("x", [{"name": "c", "image": "n"}]),
                    "strategy": {"type": "Bogus"},
                }
            },
        ]
    ),
    json_ops=_ops(
        [{"op": "replace", "path": "/spec/replicas", "value": 2}],
        [{"op": "replace", "path": "/spec/replicas", "value": "x"}],
        [{"op": "replace", "path": "/spec/selector/matchLabels/app", "value": "q"}],
        [{"op": "add", "path": "/spec/template/spec/containers/-", "value": {"name": "e", "image": "e"}}],
        [{"op": "remove", "path": "/spec/template/spec/containers/0/image"}],
    ),
    sentinel={
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "x"}},
            "template": _template("x", [{"name": "c", "image": "nginx"}]),
        }
    },
    status=st.sampled_from([{"status": {"replicas": 1}}, {"status": {"replicas": -1}}]),
    scale=True,
)

GIZMO = Kind(
    "Gizmo",
    f"{GROUP}/v1",
    "gizmos",
    valid=st.fixed_dictionaries(
        {
            "spec": st.fixed_dictionaries(
                {"image": st.sampled_from(["nginx", "busybox:1"])},
                optional={
                    "size": st.integers(0, 10),
                    "maxSize": st.integers(0, 10),
                    "mode": st.sampled_from(["fast", "safe"]),
                    "tags": st.lists(st.sampled_from(["p", "q"]), max_size=2),
                },
            )
        }
    ),
    invalid=st.sampled_from(
        [
            {"spec": {"size": 1}},
            {"spec": {"image": "nginx", "size": 11}},
            {"spec": {"image": "nginx", "mode": "reckless"}},
            {"spec": {"image": "nginx", "size": "big"}},
            {"spec": {"image": "NGINX!"}},
            {"spec": {"image": "nginx", "size": 5, "maxSize": 3}},
            {"spec": {"image": "nginx", "tags": ["a", "b", "c"]}},
            {"spec": "nope"},
        ]
    ),
    json_ops=_ops(
        [{"op": "replace", "path": "/spec/size", "value": 11}],
        [{"op": "replace", "path": "/spec/size", "value": 3}],
        [{"op": "add", "path": "/spec/maxSize", "value": 0}],
        [{"op": "remove", "path": "/spec/image"}],
    ),
    sentinel={"spec": {"image": "nginx"}},
    status=st.sampled_from([{"status": {"ready": 1}}, {"status": {"ready": -1}}, {"status": {"ready": "x"}}]),
    scale=True,
    strategic=False,
)

KINDS = [CONFIGMAP, SECRET, SERVICE, DEPLOYMENT, GIZMO]
