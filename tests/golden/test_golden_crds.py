"""Golden files: the CRDs generated for the seed kinds, compared byte for byte with files a person
has read and checked (``tests/golden/crd/``).

- AppService (app.example.com/v1): the example operator's model, ``examples/appservice``.
- CronTab (stable.example.com/v1): the Kubernetes documentation's example custom resource
  (``spec.cronSpec`` string, ``spec.image`` string, ``spec.replicas`` integer), declared here.

A change in the generator shows up here as a diff to review. After reviewing it, regenerate with
``UPDATE_GOLDEN=1 .venv/bin/pytest tests/golden`` and read the new files before committing them.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from appservice_operator.api.app_v1 import AppService

from kubeloop import crd
from kubeloop.testing import Kubectl

GOLDEN = Path(__file__).parent / "crd"


class CronTabSpec(crd.Model):
    """The schedule and the image of a cron job."""

    cron_spec: str
    """When to run, in cron format (five fields)."""
    image: str
    """The container image to run."""
    replicas: int = crd.Field(default=1, ge=0)
    """How many pods run each time."""


@crd.resource(group="stable.example.com", version="v1", short_names=["ct"], status=False)
class CronTab(crd.CustomResource):
    """A cron job: an image to run on a schedule."""

    spec: CronTabSpec


SEED_KINDS: dict[str, type[crd.CustomResource]] = {
    "app.example.com_appservices.yaml": AppService,
    "stable.example.com_crontabs.yaml": CronTab,
}


def update_requested() -> bool:
    return os.environ.get("UPDATE_GOLDEN", "") not in ("", "0")


@pytest.mark.parametrize("name", sorted(SEED_KINDS))
def test_generated_crd_matches_the_hand_checked_file(name: str, tmp_path: Path) -> None:
    (written,) = crd.write_crds([SEED_KINDS[name]], tmp_path)
    assert written.name == name
    generated = written.read_text(encoding="utf-8")
    golden = GOLDEN / name
    if update_requested():
        golden.write_text(generated, encoding="utf-8")
        pytest.skip(f"UPDATE_GOLDEN: rewrote {golden}; review the diff before committing")
    assert golden.exists(), f"{golden} is missing: run UPDATE_GOLDEN=1 pytest tests/golden"
    assert generated == golden.read_text(encoding="utf-8"), (
        f"the generated CRD differs from {golden}; if the change is intended, run "
        "UPDATE_GOLDEN=1 pytest tests/golden and review the diff"
    )


def test_golden_files_are_accepted_by_the_api_server(kubectl: Kubectl) -> None:
    for name in sorted(SEED_KINDS):
        result = kubectl("apply", "--dry-run=server", "-f", str(GOLDEN / name))
        assert "(server dry run)" in result.stdout
