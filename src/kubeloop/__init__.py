"""kubeloop: Kubernetes operators in Python — write the reconcile, kubeloop does the rest.

The public facade::

    import kubeloop as kl
    from kubeloop import crd
    from kubeloop.resources import apps_v1, core_v1

    operator = kl.Operator("appservice-operator")

    @operator.reconcile(AppService, owns=[apps_v1.Deployment, core_v1.Service])
    async def reconcile(app: AppService, ctx: kl.Context) -> kl.Result | None: ...

Sub-packages by layer (bottom up): ``client``, ``cache``/``queue``/``helpers``, ``controller``,
``manager``, ``operator``, ``testing``, ``cli``; ``crd`` for custom resource models.
"""

from kubeloop.controller import Request, Result
from kubeloop.errors import KubeloopError, TerminalError
from kubeloop.operator import Context, Operator

__all__ = ["Context", "KubeloopError", "Operator", "Request", "Result", "TerminalError"]
