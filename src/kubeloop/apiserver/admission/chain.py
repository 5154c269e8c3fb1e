"""``Chain``: the admission plugins of the server, run in order."""

from __future__ import annotations

from collections.abc import Sequence

from kubeloop.apiserver.admission.attributes import Attributes, Plugin
from kubeloop.apiserver.admission.namespace_lifecycle import NamespaceLifecycle
from kubeloop.apiserver.storage import View

__all__ = ["Chain", "default_chain"]


class Chain:
    """Plugins run one after the other; the first refusal ends the request."""

    def __init__(self, plugins: Sequence[Plugin]) -> None:
        self.plugins = tuple(plugins)

    def validate(self, attrs: Attributes, view: View) -> None:
        for plugin in self.plugins:
            plugin.validate(attrs, view)


def default_chain() -> Chain:
    """The plugins the embedded server runs (a subset of kube-apiserver's defaults)."""
    return Chain([NamespaceLifecycle()])
