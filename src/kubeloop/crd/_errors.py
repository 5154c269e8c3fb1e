"""Errors of ``kubeloop.crd``: every one names the resource and, for schemas, the field path."""

from __future__ import annotations

from kubeloop.errors import KubeloopError

__all__ = ["CRDError", "CRDSchemaError"]


class CRDError(KubeloopError):
    """A custom resource declaration cannot become a valid CustomResourceDefinition."""


class CRDSchemaError(CRDError):
    """A model holds a construct a structural OpenAPI v3 schema cannot express.

    ``path`` is the field path in wire (camelCase) names, e.g. ``AppService.spec.ports[*].nodePort``;
    ``problem`` says what is wrong there. ``str()`` is ``"<path>: <problem>"``.
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path}: {problem}")
