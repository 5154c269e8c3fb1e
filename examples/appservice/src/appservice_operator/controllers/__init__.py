"""The controllers: each module registers its reconcile on ``appservice_operator.operator.operator``
when imported, and is imported here.

``kubeloop create api`` adds imports above the marker line; keep the marker.
"""

from appservice_operator.controllers import appservice  # noqa: F401
# +kubeloop:scaffold:controllers
