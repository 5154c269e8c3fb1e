"""``@crd.resource``: declare a ``CustomResource`` class as one version of a custom resource kind.

The declaration is a frozen ``ResourceInfo`` on the class; ``crd.to_crd`` turns one or more
declared classes (versions of the same group and kind) into a CustomResourceDefinition.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from kubeloop.crd._errors import CRDError
from kubeloop.crd._model import RESOURCE_ATTR, CustomResource
from kubeloop.gvk import GroupVersionKind, GroupVersionResource, plural_of, singular_of

__all__ = ["Conversion", "PrinterColumn", "ResourceInfo", "Scale", "resource"]

ColumnType = Literal["integer", "number", "string", "boolean", "date"]
Scope = Literal["Namespaced", "Cluster"]

_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$")
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
AGE_PATH = ".metadata.creationTimestamp"


@dataclass(frozen=True)
class PrinterColumn:
    """One ``additionalPrinterColumns`` entry: what ``kubectl get`` shows.

    ``type`` left ``None`` is inferred from the schema node at ``json_path`` (``date`` for
    ``date-time`` strings and creation timestamps).
    """

    name: str
    json_path: str
    type: ColumnType | None = None
    description: str | None = None
    priority: int = 0
    format: str | None = None


@dataclass(frozen=True)
class Scale:
    """The scale subresource: where replicas live in spec and status (JSONPaths)."""

    spec_replicas_path: str = ".spec.replicas"
    status_replicas_path: str = ".status.replicas"
    label_selector_path: str | None = None

    def to_dict(self) -> dict[str, str]:
        """The ``subresources.scale`` form."""
        out = {"specReplicasPath": self.spec_replicas_path, "statusReplicasPath": self.status_replicas_path}
        if self.label_selector_path is not None:
            out["labelSelectorPath"] = self.label_selector_path
        return out


@dataclass(frozen=True)
class Conversion:
    """How the API server converts between versions (``spec.conversion`` of the CRD).

    ``strategy="Webhook"`` points at a service (kustomize-friendly placeholders by default, as
    kubebuilder scaffolds them) or ``url``; the webhook server itself is ``kubeloop.webhook``'s.
    """

    strategy: Literal["None", "Webhook"] = "Webhook"
    service_name: str = "webhook-service"
    service_namespace: str = "system"
    service_path: str = "/convert"
    service_port: int | None = None
    url: str | None = None
    ca_bundle: str | None = None
    review_versions: tuple[str, ...] = ("v1",)

    def to_dict(self) -> dict[str, Any]:
        """The CRD's ``spec.conversion``."""
        if self.strategy == "None":
            return {"strategy": "None"}
        client: dict[str, Any]
        if self.url is not None:
            client = {"url": self.url}
        else:
            service: dict[str, Any] = {
                "name": self.service_name,
                "namespace": self.service_namespace,
                "path": self.service_path,
            }
            if self.service_port is not None:
                service["port"] = self.service_port
            client = {"service": service}
        if self.ca_bundle is not None:
            client["caBundle"] = self.ca_bundle
        return {
            "strategy": "Webhook",
            "webhook": {"clientConfig": client, "conversionReviewVersions": list(self.review_versions)},
        }


@dataclass(frozen=True)
class ResourceInfo(GroupVersionKind):
    """The declaration of one version of a custom resource kind: its ``GroupVersionKind`` and the rest."""

    plural: str
    singular: str
    scope: Scope = "Namespaced"
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    printer_columns: tuple[PrinterColumn, ...] = ()
    status: bool = True
    scale: Scale | None = None
    served: bool = True
    storage: bool = True
    deprecated: bool = False
    deprecation_warning: str | None = None
    conversion: Conversion | None = field(default=None)

    @property
    def namespaced(self) -> bool:
        return self.scope == "Namespaced"

    def resource(self, plural: str | None = None) -> GroupVersionResource:
        return GroupVersionKind.resource(self, plural or self.plural)

    @property
    def crd_name(self) -> str:
        """The CustomResourceDefinition's name, ``<plural>.<group>``."""
        return f"{self.plural}.{self.group}"


def _columns(
    given: Mapping[str, str] | Sequence[PrinterColumn | Mapping[str, Any]] | None,
) -> tuple[PrinterColumn, ...]:
    if not given:
        return ()
    columns: list[PrinterColumn] = []
    if isinstance(given, Mapping):
        columns = [PrinterColumn(name=name, json_path=path) for name, path in given.items()]
    else:
        for item in given:
            if isinstance(item, PrinterColumn):
                columns.append(item)
            else:
                spec = dict(item)
                path = spec.pop("jsonPath", None) or spec.pop("json_path", None)
                if path is None or "name" not in spec:
                    raise CRDError(f"a printer column needs a name and a jsonPath: {dict(item)!r}")
                columns.append(PrinterColumn(json_path=path, **spec))
    if not any(c.name == "Age" or c.json_path == AGE_PATH for c in columns):
        columns.append(PrinterColumn(name="Age", json_path=AGE_PATH, type="date"))
    return tuple(columns)


def _scale(given: Scale | Mapping[str, str] | bool | None) -> Scale | None:
    if given is None or given is False:
        return None
    if given is True:
        return Scale()
    if isinstance(given, Scale):
        return given
    names = {"specReplicasPath": "spec_replicas_path", "statusReplicasPath": "status_replicas_path"}
    names["labelSelectorPath"] = "label_selector_path"
    return Scale(**{names.get(k, k): v for k, v in given.items()})


def _conversion(given: Conversion | Literal["None", "Webhook"] | None) -> Conversion | None:
    if given is None or isinstance(given, Conversion):
        return given
    return Conversion(strategy=given)


_C = TypeVar("_C", bound=type[CustomResource])


def resource(
    *,
    group: str,
    version: str,
    kind: str | None = None,
    plural: str | None = None,
    singular: str | None = None,
    scope: Scope = "Namespaced",
    short_names: Sequence[str] = (),
    categories: Sequence[str] = (),
    printer_columns: Mapping[str, str] | Sequence[PrinterColumn | Mapping[str, Any]] | None = None,
    status: bool = True,
    scale: Scale | Mapping[str, str] | bool | None = None,
    served: bool = True,
    storage: bool = True,
    deprecated: bool = False,
    deprecation_warning: str | None = None,
    conversion: Conversion | Literal["None", "Webhook"] | None = None,
) -> Callable[[_C], _C]:
    """Class decorator declaring a ``CustomResource`` subclass as ``<group>/<version>, Kind=<kind>``.

    ``kind`` defaults to the class name, ``plural`` to the English plural of the lower-cased kind,
    ``singular`` to the lower-cased kind. ``printer_columns`` maps column names to JSONPaths or
    lists ``PrinterColumn``s (or dicts in CRD form); when columns are given and none is ``Age``, an
    ``Age`` column over ``.metadata.creationTimestamp`` is appended, as ``kubectl`` shows it for
    resources without columns. ``status`` enables the status subresource, ``scale`` the scale
    subresource (``True`` for ``.spec.replicas``/``.status.replicas``). ``served``/``storage``
    matter when several classes declare versions of one kind: exactly one must be the storage
    version. ``conversion`` (on any one version) sets the CRD's conversion strategy.
    """

    def decorate(cls: _C) -> _C:
        if not (isinstance(cls, type) and issubclass(cls, CustomResource)):
            raise TypeError("crd.resource decorates crd.CustomResource subclasses")
        the_kind = kind or cls.__name__
        if "." not in group or not _DNS1123_SUBDOMAIN.match(group):
            raise CRDError(
                f"{cls.__qualname__}: group {group!r} must be a DNS subdomain with at least one dot"
            )
        if not _DNS1035_LABEL.match(version):
            raise CRDError(
                f"{cls.__qualname__}: version {version!r} must be a DNS-1035 label, e.g. v1 or v1beta1"
            )
        if scope not in ("Namespaced", "Cluster"):
            raise CRDError(f"{cls.__qualname__}: scope must be 'Namespaced' or 'Cluster', not {scope!r}")
        info = ResourceInfo(
            group=group,
            version=version,
            kind=the_kind,
            plural=plural or plural_of(the_kind),
            singular=singular or singular_of(the_kind),
            scope=scope,
            short_names=tuple(short_names),
            categories=tuple(categories),
            printer_columns=_columns(printer_columns),
            status=status,
            scale=_scale(scale),
            served=served,
            storage=storage,
            deprecated=deprecated,
            deprecation_warning=deprecation_warning,
            conversion=_conversion(conversion),
        )
        setattr(cls, RESOURCE_ATTR, info)
        return cls

    return decorate
