"""Generated CRDs against the real kube-apiserver, as users meet them: ``kubectl explain`` shows the
descriptions written as docstrings, the status subresource splits spec and status writes, the scale
subresource drives ``kubectl scale``, and enum and pattern rejections name the field and the rule.

Each test declares its kind in a fresh group and deletes the CRD afterwards.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import pytest

from kubeloop import crd
from kubeloop.client import Client, PatchType
from kubeloop.testing import Kubectl, eventually, wait_for_crds


class CronTabSpec(crd.Model):
    """What to run, and when."""

    cron_spec: str = crd.Field(pattern=r"^(\S+\s+){4}\S+$", max_length=64)
    """The schedule in cron format, five fields."""
    image: str
    """The container image that runs the job."""
    replicas: int = crd.Field(default=1, ge=0, le=10)
    """How many jobs may run at once."""
    concurrency: Literal["Allow", "Forbid", "Replace"] = "Allow"
    """What to do when a run is due while the previous one still runs."""
    restart: Literal["Always", "Never"] | None = None
    """Optional: an enum that also accepts null."""


class CronTabStatus(crd.Model):
    """What the controller observed."""

    replicas: int = 0
    selector: str = ""
    last_schedule: str | None = None


def declare(group: str) -> type[crd.CustomResource]:
    @crd.resource(
        group=group,
        version="v1",
        short_names=["ct"],
        scale=crd.Scale(".spec.replicas", ".status.replicas", label_selector_path=".status.selector"),
    )
    class CronTab(crd.CustomResource):
        """A cron job, the Kubernetes documentation's example custom resource."""

        spec: CronTabSpec
        status: CronTabStatus | None = None

    return CronTab


@pytest.fixture
def crontab(kubectl: Kubectl, tmp_path: Path) -> Iterator[type[crd.CustomResource]]:
    """CronTab in a fresh group, installed and Established; its CRD is deleted after the test."""
    model = declare(f"crdtest-{uuid.uuid4().hex[:8]}.example.com")
    (path,) = crd.write_crds([model], tmp_path)
    kubectl("apply", "-f", str(path))
    name = model.resource_info().crd_name
    try:
        wait_for_crds(kubectl, name)
        yield model
    finally:
        kubectl("delete", "crd", name, "--ignore-not-found", "--wait=false")


def resource(model: type[crd.CustomResource]) -> str:
    info = model.resource_info()
    return f"{info.plural}.{info.group}"


def manifest(model: type[crd.CustomResource], name: str, spec: dict[str, Any], **extra: Any) -> str:
    info = model.resource_info()
    return json.dumps(
        {"apiVersion": info.api_version, "kind": info.kind, "metadata": {"name": name}, "spec": spec, **extra}
    )


def test_kubectl_explain_shows_the_field_descriptions(crontab, kubectl):
    kind = resource(crontab)

    def explained(path: str, text: str) -> bool:
        result = kubectl("explain", f"{kind}.{path}", check=False)
        return result.returncode == 0 and text in " ".join(result.stdout.split())

    # The OpenAPI document of a new CRD is published a moment after it is Established.
    eventually(
        lambda: explained("spec.cronSpec", "The schedule in cron format, five fields."),
        timeout=30,
        what="kubectl explain showing spec.cronSpec's description",
    )
    assert explained("spec.image", "The container image that runs the job.")
    assert explained("spec.concurrency", "What to do when a run is due while the previous one still runs.")
    assert explained("spec", "What to run, and when.")
    assert explained("", "A cron job, the Kubernetes documentation's example custom resource.")
    spec = " ".join(kubectl("explain", f"{kind}.spec").stdout.split())
    assert "cronSpec <string> -required-" in spec
    assert "replicas <integer>" in spec


async def test_status_subresource_ignores_status_in_main_writes_and_spec_in_status_writes(
    crontab, client: Client, namespace
):
    ref = crontab.resource_info().api_version + "/CronTab"
    created = await client.create(
        json.loads(
            manifest(crontab, "split", {"cronSpec": "* * * * *", "image": "busybox"}, status={"replicas": 7})
        ),
        namespace=namespace,
    )
    assert "status" not in created  # dropped on create: status is written through /status only
    generation = created["metadata"]["generation"]

    # A write to the main resource: spec changes, status is ignored.
    patched = await client.patch(
        ref,
        "split",
        {"spec": {"image": "busybox:2"}, "status": {"replicas": 3}},
        type=PatchType.MERGE,
        namespace=namespace,
    )
    assert patched["spec"]["image"] == "busybox:2"
    assert "status" not in patched
    assert patched["metadata"]["generation"] == generation + 1

    # A write to /status: status changes, spec is ignored, generation stays.
    status = await client.patch(
        ref,
        "split",
        {"spec": {"image": "busybox:3"}, "status": {"replicas": 3, "selector": "app=split"}},
        type=PatchType.MERGE,
        namespace=namespace,
        subresource="status",
    )
    assert status["status"] == {"replicas": 3, "selector": "app=split"}
    assert status["spec"]["image"] == "busybox:2"
    assert status["metadata"]["generation"] == generation + 1

    # A full PUT of the main resource with another status keeps the stored status.
    replaced = await client.replace(
        {**status, "status": {"replicas": 0}, "spec": {**status["spec"], "replicas": 2}}
    )
    assert replaced["status"] == {"replicas": 3, "selector": "app=split"}
    assert replaced["spec"]["replicas"] == 2
    stored = await client.get(ref, "split", namespace=namespace)
    assert stored["status"] == {"replicas": 3, "selector": "app=split"}
    assert stored["spec"]["image"] == "busybox:2"


def test_scale_subresource_works_with_kubectl_scale(crontab, kubectl, namespace):
    kind = resource(crontab)
    kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input=manifest(crontab, "nightly", {"cronSpec": "0 3 * * *", "image": "busybox"}),
    )
    kubectl(
        "patch", kind, "nightly", "-n", namespace, "--subresource=status", "--type=merge",
        "-p", '{"status": {"replicas": 1, "selector": "app=nightly"}}',
    )  # fmt: skip
    out = kubectl("scale", kind, "nightly", "-n", namespace, "--replicas=4").stdout
    assert "scaled" in out
    assert kubectl.json("get", kind, "nightly", "-n", namespace)["spec"]["replicas"] == 4

    scale = kubectl.json("get", kind, "nightly", "-n", namespace, "--subresource=scale")
    assert scale["kind"] == "Scale"
    assert scale["spec"] == {"replicas": 4}
    assert scale["status"] == {"replicas": 1, "selector": "app=nightly"}

    # --current-replicas is a precondition on the scale subresource.
    stale = kubectl(
        "scale", kind, "nightly", "-n", namespace, "--current-replicas=2", "--replicas=5", check=False
    )
    assert stale.returncode != 0
    assert kubectl.json("get", kind, "nightly", "-n", namespace)["spec"]["replicas"] == 4

    # The schema's bounds hold through the scale subresource too.
    too_many = kubectl("scale", kind, "nightly", "-n", namespace, "--replicas=11", check=False)
    assert too_many.returncode != 0
    assert "spec.replicas" in too_many.stderr
    assert "less than or equal to 10" in too_many.stderr


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        pytest.param(
            {"cronSpec": "* * * * *", "image": "busybox", "concurrency": "Sometimes"},
            [
                "spec.concurrency",
                'Unsupported value: "Sometimes"',
                'supported values: "Allow", "Forbid", "Replace"',
            ],
            id="enum",
        ),
        pytest.param(
            {"cronSpec": "* * * * *", "image": "busybox", "restart": "Sometimes"},
            ["spec.restart", 'Unsupported value: "Sometimes"', 'supported values: "Always", "Never"'],
            id="nullable-enum",
        ),
        pytest.param(
            {"cronSpec": "every minute", "image": "busybox"},
            ["spec.cronSpec", 'Invalid value: "every minute"', r"should match '^(\S+\s+){4}\S+$'"],
            id="pattern",
        ),
        pytest.param(
            {"cronSpec": "* * * * * " + "*" * 60, "image": "busybox"},
            ["spec.cronSpec", "Too long", "may not be more than 64"],
            id="max-length",
        ),
    ],
)
def test_enum_and_pattern_rejections_carry_the_message_and_path(crontab, kubectl, namespace, spec, expected):
    result = kubectl("apply", "-n", namespace, "-f", "-", input=manifest(crontab, "bad", spec), check=False)
    assert result.returncode != 0
    for text in expected:
        assert text in result.stderr, (text, result.stderr)
    assert (
        "not found" in kubectl("get", resource(crontab), "bad", "-n", namespace, check=False).stderr.lower()
    )


def test_a_nullable_enum_accepts_null_and_its_values(crontab, kubectl, namespace):
    for i, restart in enumerate([None, "Never"]):
        spec = {"cronSpec": "* * * * *", "image": "busybox", "restart": restart}
        # create, not apply: client-side apply drops nulls from the manifest
        kubectl("create", "-n", namespace, "-f", "-", input=manifest(crontab, f"ok-{i}", spec))
        got = kubectl.json("get", resource(crontab), f"ok-{i}", "-n", namespace)
        assert got["spec"]["restart"] == restart
