"""What the API server owns in an object's ``metadata``: the one list shared by the operator's apply skip
and the embedded server's field manager.

Role: the bottom layer (standard library only), as apimachinery's field manager is for kube-apiserver:
its ``StripMetaManager`` leaves these fields out of every manager's ``managedFields``, so no applier
ever owns them and a comparison of what an applier sent with what it owns must ignore them too.
"""

from __future__ import annotations

__all__ = ["SERVER_SET_METADATA"]

SERVER_SET_METADATA: frozenset[str] = frozenset(
    {
        "name",
        "namespace",
        "uid",
        "resourceVersion",
        "generation",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
    }
)
"""The ``metadata`` keys the server sets and no field manager owns (identity, versions, deletion state)."""
