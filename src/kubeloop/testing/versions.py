"""The pinned versions of the control-plane components, in one place.

Kubernetes v1.33 is the newest minor within kubectl's supported skew (±1) of the
machine's kubectl v1.32 and builds with Go 1.26; etcd 3.6 is the line Kubernetes
1.33+ supports; kwok v0.7 gives fake nodes and pods.
"""

from __future__ import annotations

__all__ = ["ETCD_VERSION", "HELM_VERSION", "KUBERNETES_VERSION", "KWOK_VERSION"]

KUBERNETES_VERSION = "v1.33.13"
ETCD_VERSION = "v3.6.16"
KWOK_VERSION = "v0.7.0"
# Helm for the Helm operators (kubeloop.helm): the v3 line, whose release Secrets helm v3 and v4 read.
HELM_VERSION = "v3.21.4"
