"""Fixtures of the tests. kubeloop's pytest plugin (installed with kubeloop) provides
``control_plane`` (a real kube-apiserver and etcd for the session), ``kubectl`` bound to it,
``namespace`` (fresh per test) and ``client``; the ``kubeloop_*`` options in pyproject.toml shape
the control plane.
"""

from __future__ import annotations

import pytest
from kubeloop import crd
from kubeloop.scaffold import custom_resources
from kubeloop.testing import Kubectl, wait_for_crds

from appservice_operator.operator import operator


@pytest.fixture(scope="session")
def crds(kubectl: Kubectl) -> list[str]:
    """The CRDs of every kind the operator reconciles, generated from the code, installed and served."""
    models = custom_resources(operator)
    if not models:
        return []
    kubectl("apply", "-f", "-", input=crd.to_yaml(models))
    names = [model.resource_info().crd_name for model in models]
    wait_for_crds(kubectl, *names)  # Established, and in discovery: kubectl can write their kinds
    return names
