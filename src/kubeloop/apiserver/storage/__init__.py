"""Storage: the objects (SQLite, one writer), their watch history and their indexes.

Modules: ``events`` (``Event``, ``Watcher``) ← ``history`` (the ring watches resume from) and
``index`` (by UID and owner UID) and ``view`` (what one write job sees) ← ``store`` (``Store``).
Nothing here knows about kinds, HTTP or the verbs.
"""

from __future__ import annotations

from kubeloop.apiserver.storage.events import Event, Key, Obj, Watcher
from kubeloop.apiserver.storage.store import Store
from kubeloop.apiserver.storage.view import View

__all__ = ["Event", "Key", "Obj", "Store", "View", "Watcher"]
