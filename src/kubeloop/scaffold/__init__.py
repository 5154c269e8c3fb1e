"""Generators and scaffolding: an operator's ``config/`` manifests (CRDs, RBAC, samples) and the
project scaffolding of ``kubeloop init`` / ``create api`` / ``create webhook`` (jinja2 templates
under ``templates/``, a ``PROJECT`` file, marker regions). Sits above the runtime; used by the CLI.
"""

from kubeloop.scaffold._ansible import (
    is_ansible_project,
    plan_ansible_api,
    plan_helm_api,
    plan_plugin_init,
    plugin_of,
)
from kubeloop.scaffold._api import ApiOptions, create_api, plan_api
from kubeloop.scaffold._init import InitOptions, init_project, plan_init
from kubeloop.scaffold._manifests import (
    custom_resources,
    manager_file,
    write_crd_manifests,
    write_manager,
    write_rbac,
    write_samples,
)
from kubeloop.scaffold._names import ScaffoldError
from kubeloop.scaffold._plan import Change, Conflict, Plan, ScaffoldConflictError, insert_at_marker
from kubeloop.scaffold._project import Project, Resource, Webhooks
from kubeloop.scaffold._rbac import cluster_role, leader_election_role, operator_rules
from kubeloop.scaffold._webhook import WebhookOptions, create_webhook, plan_webhook
from kubeloop.scaffold._webhooks import write_webhook_manifests

__all__ = [
    "ApiOptions",
    "Change",
    "Conflict",
    "InitOptions",
    "Plan",
    "Project",
    "Resource",
    "ScaffoldConflictError",
    "ScaffoldError",
    "WebhookOptions",
    "Webhooks",
    "cluster_role",
    "create_api",
    "create_webhook",
    "custom_resources",
    "init_project",
    "insert_at_marker",
    "is_ansible_project",
    "leader_election_role",
    "manager_file",
    "operator_rules",
    "plan_ansible_api",
    "plan_api",
    "plan_helm_api",
    "plan_init",
    "plan_plugin_init",
    "plan_webhook",
    "plugin_of",
    "write_crd_manifests",
    "write_manager",
    "write_rbac",
    "write_samples",
    "write_webhook_manifests",
]
