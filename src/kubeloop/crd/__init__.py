"""Custom resources from pydantic v2 models: structural schemas and CustomResourceDefinitions.

Role: the operator author declares a custom resource as pydantic models; this package turns them
into what the API server needs (``apiextensions.k8s.io/v1`` CRDs with structural OpenAPI v3
schemas, CEL rules, defaults, printer columns, subresources, several versions) and gives typed
objects that keep every field the server sent. Imports only pydantic, PyYAML, the standard library,
``kubeloop.errors`` and ``kubeloop.gvk``; the CLI's ``generate`` and the RBAC generator build on
``to_crds`` and ``write_crds``.

::

    from kubeloop import crd

    class Port(crd.Model):
        port: int
        target_port: int
        node_port: int | None = crd.Field(None, ge=30000, le=32767)

    class AppServiceSpec(crd.Model):
        size: int = crd.Field(1, ge=0)
        image: str
        ports: list[Port] = []

    @crd.resource(group="app.example.com", version="v1", short_names=["as"],
                  printer_columns={"Size": ".spec.size", "Ready": ".status.readyReplicas"})
    class AppService(crd.CustomResource):
        spec: AppServiceSpec
        status: AppServiceStatus | None = None

    crd.write_crds([AppService], ".")   # config/crd/bases/app.example.com_appservices.yaml

Guarantees: ``Kind.model_validate(obj).model_dump(by_alias=True, exclude_unset=True)`` returns
``obj`` unchanged, unknown fields included; a model the generator cannot express as a structural
schema raises ``CRDSchemaError`` naming the field path instead of producing a CRD the server
would reject or silently prune.
"""

from kubeloop.crd._errors import CRDError, CRDSchemaError
from kubeloop.crd._generate import (
    resource_schema,
    to_crd,
    to_crds,
    to_yaml,
    write_crds,
    write_file_atomically,
)
from kubeloop.crd._model import CustomResource, Field, Model, ObjectMeta, Rule, schema
from kubeloop.crd._resource import Conversion, PrinterColumn, ResourceInfo, Scale, resource
from kubeloop.crd._schema import openapi_schema
from kubeloop.gvk import plural_of

__all__ = [
    "CRDError",
    "CRDSchemaError",
    "Conversion",
    "CustomResource",
    "Field",
    "Model",
    "ObjectMeta",
    "PrinterColumn",
    "ResourceInfo",
    "Rule",
    "Scale",
    "openapi_schema",
    "plural_of",
    "resource",
    "resource_schema",
    "schema",
    "to_crd",
    "to_crds",
    "to_yaml",
    "write_crds",
    "write_file_atomically",
]
