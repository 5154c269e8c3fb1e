"""The operator: one ``kl.Operator`` on which every controller of this project registers.

Controllers are modules of ``appservice_operator.controllers`` decorating their reconcile with
``@operator.reconcile(Kind, owns=[...])``; importing this module imports them (the import at the
end), so ``kubeloop run``/``generate`` given ``appservice_operator.operator:operator`` see them all.
"""

from __future__ import annotations

import kubeloop as kl

operator = kl.Operator("appservice-operator")

# Last, so that the controllers find `operator` defined when they import it.
from appservice_operator import controllers  # noqa: E402, F401
