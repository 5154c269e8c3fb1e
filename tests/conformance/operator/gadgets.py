"""A test custom resource, Gadget (test.kubeloop.io/v1), in a strict and a loose model."""

from __future__ import annotations

from kubeloop import crd


class GadgetSpec(crd.Model):
    """What a gadget asks for."""

    replicas: int = crd.Field(default=1, ge=0, le=5)
    message: str = ""


@crd.resource(group="test.kubeloop.io", version="v1")
class Gadget(crd.CustomResource):
    """The model the operators under test use: replicas at most 5."""

    spec: GadgetSpec


class LooseGadgetSpec(crd.Model):
    """The same fields without the bound: what the installed CRD lets through."""

    replicas: int = 1
    message: str = ""


@crd.resource(group="test.kubeloop.io", version="v1", kind="Gadget")
class LooseGadget(crd.CustomResource):
    """The installed CRD's model: the server accepts replicas the operator's model refuses."""

    spec: LooseGadgetSpec


def gadget(name: str, replicas: int = 1, message: str = "") -> dict[str, object]:
    """A Gadget object."""
    return {
        "apiVersion": "test.kubeloop.io/v1",
        "kind": "Gadget",
        "metadata": {"name": name},
        "spec": {"replicas": replicas, "message": message},
    }
