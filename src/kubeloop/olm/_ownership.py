"""Which release owns an object on the cluster, read from the labels every installed object carries
(``release_labels``), so that no install takes over what another one installed or what a user made,
and no uninstall deletes what is not its own.

An object is free for a release when it does not exist or carries that release's labels. A CRD an
uninstall left behind (CRDs are kept: they hold users' data) may be taken again by the same package,
in any namespace, once its release is gone. Anything else refuses the whole install or upgrade.
"""

from __future__ import annotations

from collections.abc import Iterable

from kubeloop.client import Client, ForbiddenError, NotFoundError, UnknownResourceError
from kubeloop.olm._model import CRD_KIND, Obj, OLMError
from kubeloop.olm._names import NAMESPACE_LABEL, PACKAGE_LABEL
from kubeloop.olm._release import ObjectRef, Release

__all__ = ["OwnershipConflict", "check_ownership", "owned_by", "owner_of"]


class OwnershipConflict(OLMError):
    """Objects a bundle would apply belong to another release or to nobody the lifecycle manager
    knows; ``conflicts`` has one line per object. Nothing was applied."""

    def __init__(self, message: str, conflicts: list[str]) -> None:
        super().__init__(message)
        self.conflicts = conflicts


def owner_of(obj: Obj) -> tuple[str, str] | None:
    """The (namespace, package) of the release ``obj`` belongs to; None when it has no such labels."""
    labels = (obj.get("metadata") or {}).get("labels") or {}
    package, namespace = labels.get(PACKAGE_LABEL), labels.get(NAMESPACE_LABEL)
    return (namespace, package) if package and namespace else None


def owned_by(obj: Obj, namespace: str, package: str) -> bool:
    return owner_of(obj) == (namespace, package)


async def check_ownership(client: Client, objects: Iterable[Obj], namespace: str, package: str) -> None:
    """OwnershipConflict naming every object of ``objects`` (to be applied for ``package`` in
    ``namespace``) that exists on the cluster and is not free for that release (module docstring)."""
    conflicts = []
    for obj in objects:
        ref = ObjectRef.of(obj)
        try:
            found = await client.get(f"{ref.api_version}/{ref.kind}", ref.name, namespace=ref.namespace)
        except (NotFoundError, UnknownResourceError):
            continue
        owner = owner_of(found)
        if owner == (namespace, package):
            continue
        if owner is None:
            conflicts.append(f"{ref} exists and was not installed by the lifecycle manager")
        elif ref.kind == CRD_KIND and owner[1] == package and not await _installed(client, *owner):
            continue  # left by an uninstall of the same package
        else:
            conflicts.append(f"{ref} belongs to package {owner[1]} in {owner[0]}")
    if conflicts:
        raise OwnershipConflict(
            f"package {package} in {namespace} refused, {len(conflicts)} object(s) it would take over: "
            + "; ".join(conflicts),
            conflicts,
        )


async def _installed(client: Client, namespace: str, package: str) -> bool:
    """Whether the release of ``package`` in ``namespace`` exists (True when it cannot be read)."""
    try:
        await client.get("v1/ConfigMap", Release.configmap_name(package), namespace=namespace)
    except NotFoundError:
        return False
    except ForbiddenError:
        return True
    return True
