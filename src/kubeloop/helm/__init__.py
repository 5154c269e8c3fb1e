"""Helm operators: the kinds of an operator-sdk helm ``watches.yaml`` reconciled by installing,
upgrading and uninstalling a chart's release with Helm's own code (``helm-server``, one long-lived
process, or the ``helm`` command) and Helm's own release Secrets.

Role: above ``kubeloop.ansible``, whose API proxy it uses; below the CLI and the scaffolding.
"""

from kubeloop.helm._annotations import (
    RECONCILE_PERIOD,
    ROLLBACK_FORCE,
    UNINSTALL_WAIT,
    UPGRADE_FORCE,
    annotation_bool,
    reconcile_period,
)
from kubeloop.helm._helm import Helm, HelmError, Release, Releases
from kubeloop.helm._operator import UNINSTALL_FINALIZER, HelmOperator, merge
from kubeloop.helm._rbac import chart_rules
from kubeloop.helm._server import HelmServer
from kubeloop.helm._watches import HelmWatch, is_helm_watches, load_helm_watches

__all__ = [
    "RECONCILE_PERIOD",
    "ROLLBACK_FORCE",
    "UNINSTALL_FINALIZER",
    "UNINSTALL_WAIT",
    "UPGRADE_FORCE",
    "Helm",
    "HelmError",
    "HelmOperator",
    "HelmServer",
    "HelmWatch",
    "Release",
    "Releases",
    "annotation_bool",
    "chart_rules",
    "is_helm_watches",
    "load_helm_watches",
    "merge",
    "reconcile_period",
]
