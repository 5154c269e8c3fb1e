"""Testing support: a real control plane on loopback, kubectl bound to it, pytest fixtures, and faults
(component restarts, etcd compaction, a fault-injecting proxy) to run an operator through."""

from kubeloop.testing.controlplane import ControlPlane, ControlPlaneOptions
from kubeloop.testing.crds import CRDNotReadyError, wait_for_crds
from kubeloop.testing.faults import FaultProxy, Faults, FaultStats
from kubeloop.testing.kubectl import Kubectl, KubectlError, temporary_namespace
from kubeloop.testing.runner import run_operator
from kubeloop.testing.waiting import eventually, until

__all__ = [
    "CRDNotReadyError",
    "ControlPlane",
    "ControlPlaneOptions",
    "FaultProxy",
    "FaultStats",
    "Faults",
    "Kubectl",
    "KubectlError",
    "eventually",
    "run_operator",
    "temporary_namespace",
    "until",
    "wait_for_crds",
]
