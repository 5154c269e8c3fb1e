"""``Strategy``: what differs between kinds on create, update and delete, as kube-apiserver's
RESTCreateStrategy/RESTUpdateStrategy/RESTDeleteStrategy.

The verbs (``rest.api``) call, in the real server's order: ``prepare_for_create`` or
``prepare_for_update`` (defaults, allocation, fields the caller may not set), then ``validate`` or
``validate_update`` (every cause at once: the write is refused with 422 Invalid and nothing is
stored). On delete they ask ``grace_period``, ``deletion_finalizers``, ``prepare_for_delete`` (a
kind's own state on deletion) and ``waits_on_spec_finalizers``.

The base class is the generic behaviour of a built-in kind; a kind overrides only what it changes.
"""

from __future__ import annotations

from kubeloop.apiserver.machinery.errors import Cause
from kubeloop.apiserver.registry.types import ResourceType
from kubeloop.apiserver.storage import Obj, View

__all__ = ["Strategy"]


class Strategy:
    """Generic behaviour; subclasses override per kind."""

    return_deleted_object = False
    """Delete answers with the object (Pods, Namespaces, custom resources) instead of a Status."""

    allow_create_on_update = False
    """An update of an object that is not there creates it (Services) instead of a 404."""

    status_keeps_annotations = False
    """A ``/status`` write takes the request's annotations (a Deployment's status strategy resets only
    its spec and labels); other kinds keep the stored ones."""

    annotations_move_generation = False
    """A change of annotations moves ``metadata.generation`` as a spec change does (a Deployment's: its
    ReplicaSets copy them)."""

    def warnings_on_create(self, rt: ResourceType, obj: Obj) -> list[str]:
        """Warnings for a valid ``obj`` about to be created (sent as ``Warning`` headers)."""
        return []

    def prepare_for_create(self, rt: ResourceType, obj: Obj, view: View) -> None:
        """Fill ``obj`` in before it is validated and stored; status is not the caller's to set."""
        if rt.has_status:
            obj.pop("status", None)

    def prepare_for_update(self, rt: ResourceType, obj: Obj, old: Obj, view: View) -> None:
        """Fill ``obj`` (replacing ``old``) in before it is validated and stored."""

    tracks_before_prepare = False
    """The kind's prepare does registry work the real server's field manager does not see (it runs in
    the handler, before the registry): the verbs then keep the object as sent and ``as_tracked``
    says what an Update's managedFields are computed from."""

    def as_tracked(self, rt: ResourceType, sent: Obj, old: Obj | None) -> Obj:
        """``sent`` (a copy of the object before ``prepare_*``) as the real field manager compares it:
        with the decoder's defaults, without what the registry allocates or drops (only called when
        ``tracks_before_prepare``)."""
        return sent

    def validate(self, rt: ResourceType, obj: Obj, old: Obj | None, view: View) -> list[Cause]:
        """What is wrong with ``obj`` (created when ``old`` is None), as causes with field paths."""
        return []

    def validate_update(
        self,
        rt: ResourceType,
        obj: Obj,
        old: Obj,
        view: View,
        subresource: str | None,
        warnings: list[str] | None,
    ) -> list[Cause]:
        """What is wrong with ``obj`` replacing ``old`` through ``subresource`` (None: the object itself;
        ``status``: its status strategy's ValidateUpdate); warnings go into ``warnings``."""
        return self.validate(rt, obj, old, view)

    def prepare_for_delete(self, rt: ResourceType, obj: Obj) -> None:
        """Change ``obj`` as it gets its deletionTimestamp (finalizers keep it for now)."""

    def grace_period(self, obj: Obj, requested: int | None) -> int | None:
        """Seconds a deletion of ``obj`` waits (``requested``: the DeleteOptions' gracePeriodSeconds), or
        None for kinds without graceful deletion (everything but Pods)."""
        return None

    def deletion_finalizers(self, obj: Obj) -> list[str]:
        """Finalizers the first delete of ``obj`` adds (a CRD's custom resource cleanup)."""
        return []

    def waits_on_spec_finalizers(self, obj: Obj) -> bool:
        """Deletion waits for ``spec.finalizers`` too (Namespaces)."""
        return False
