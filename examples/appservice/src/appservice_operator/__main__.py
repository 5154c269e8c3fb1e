"""``python -m appservice_operator`` (or the ``appservice-operator`` script): run the manager.

This is ``kubeloop run appservice_operator.operator:operator``, with its flags: --kubeconfig,
--leader-elect, --metrics-bind-address (default :8080), --health-probe-bind-address (default
:8081), --namespace, --log-level, --log-format; ``--help`` lists them all. Each flag can also be
set in the environment as KUBELOOP_<FLAG> (``KUBELOOP_LEADER_ELECT=true``,
``KUBELOOP_NAMESPACE=default``); $KUBECONFIG and the in-cluster service account are used when
no --kubeconfig is given.
"""

from __future__ import annotations

import sys

from kubeloop.cli.run import run

OPERATOR = "appservice_operator.operator:operator"


def main() -> None:
    """Run the manager until SIGTERM or Ctrl-C."""
    run.main([OPERATOR, *sys.argv[1:]], prog_name="appservice-operator", auto_envvar_prefix="KUBELOOP")


if __name__ == "__main__":
    main()
