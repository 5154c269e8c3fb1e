"""Ansible operators: the kinds of an operator-sdk ``watches.yaml`` reconciled by their roles and
playbooks, run through ansible-runner on kubeloop's runtime.

Role: beside ``kubeloop.operator`` (``AnsibleOperator`` is an ``Operator``), below the CLI and the
scaffolding. Needs the ``ansible`` extra (ansible-core, ansible-runner, the kubernetes.core collection).
"""

from kubeloop.ansible._operator import (
    RECONCILE_PERIOD_ANNOTATION,
    AnsibleOperator,
    AnsibleRunError,
    ProxiedOperator,
    owner_reference_rule,
    status_rules,
)
from kubeloop.ansible._params import extra_vars, to_snake
from kubeloop.ansible._proxy import ApiProxy, RunOwner
from kubeloop.ansible._runner import COLLECTIONS, RunResult, TaskFailure, run_ansible
from kubeloop.ansible._watches import Finalizer, Watch, WatchesError, load_watches, parse_duration

__all__ = [
    "COLLECTIONS",
    "RECONCILE_PERIOD_ANNOTATION",
    "AnsibleOperator",
    "AnsibleRunError",
    "ApiProxy",
    "Finalizer",
    "ProxiedOperator",
    "RunOwner",
    "RunResult",
    "TaskFailure",
    "Watch",
    "WatchesError",
    "extra_vars",
    "load_watches",
    "owner_reference_rule",
    "parse_duration",
    "run_ansible",
    "status_rules",
    "to_snake",
]
