"""The app.example.com/v1 custom resources: AppService."""

from __future__ import annotations

from kubeloop import crd

GROUP = "app.example.com"
VERSION = "v1"


class ServicePort(crd.Model):
    """One port of the app's NodePort Service."""

    port: int = crd.Field(ge=1, le=65535)
    target_port: int = crd.Field(ge=1, le=65535)
    node_port: int | None = crd.Field(default=None, ge=30000, le=32767)


class AppServiceSpec(crd.Model):
    """What to run: size replicas of image, reachable on ports."""

    size: int = crd.Field(default=1, ge=0, le=100)
    image: str = crd.Field(min_length=1)
    ports: list[ServicePort] = crd.Field(default_factory=list)


class AppServiceStatus(crd.Model):
    """What runs: ready replicas, the Service's node ports, and conditions."""

    ready_replicas: int = 0
    node_ports: list[int] = crd.Field(default_factory=list)
    conditions: list[dict[str, object]] = crd.Field(default_factory=list)


@crd.resource(
    group=GROUP,
    version=VERSION,
    short_names=["as"],
    printer_columns={"Size": ".spec.size", "Ready": ".status.readyReplicas"},
)
class AppService(crd.CustomResource):
    """An application: a Deployment of size replicas and a NodePort Service."""

    spec: AppServiceSpec
    status: AppServiceStatus | None = None


# +kubeloop:scaffold:kinds
