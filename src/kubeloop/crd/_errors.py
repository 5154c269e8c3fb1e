"""Errors of ``kubeloop.crd``: every one names the resource and, for schemas, the field path."""

from __future__ import annotations

from kubeloop.errors import KubeloopError

__all__ = ["CRDError", "CRDSchemaError"]


class CRDError(KubeloopError):
    """A custom resource declaration cannot become a valid CustomResourceDefinition."""


class CRDSchemaError(CRDError):
    """A model holds a construct a structural OpenAPI v3 schema cannot express.

    ``path`` is the field path in wire (camelCase) names from the root model, e.g.
    ``AppService.spec.ports[*].nodePort``; ``problem`` names the construct and says what is wrong
    with it; ``model`` is the model that declares the field (``Port``), when it is not the root;
    ``suggestion`` says what to write instead. ``str()`` is
    ``"<path> (in model <model>): <problem>. Suggestion: <suggestion>"``.
    """

    def __init__(self, path: str, problem: str, *, suggestion: str = "", model: str = "") -> None:
        self.path = path
        self.problem = problem
        self.suggestion = suggestion
        self.model = model
        where = f"{path} (in model {model})" if model and not path.startswith(f"{model}.") else path
        message = f"{where}: {problem}"
        if suggestion:
            message += f". Suggestion: {suggestion}"
        super().__init__(message)
