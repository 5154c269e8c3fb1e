"""What sharding writes on an object (``ShardLabels``), and the sharder's record of every sharded
object (``Record``): its resourceVersion and its assignment, nothing else, in a compact form.

Role: the store of the sharder's informers (``InformerOptions.store``). The replica running the
sharder holds every sharded object, not only its share, and reads of each only its name, namespace,
resourceVersion, shard label, seal and drain label. Kept as the informer keeps objects (two dicts
each, and its key) that was ~570 bytes an object, 5.4 MiB at 10,000, in that replica alone; here it
is one entry ``name -> (resourceVersion, state)`` per namespace, the state (label, seal, draining) a
tuple all objects with the same assignment share: ~190 bytes. The informer's transform (``slim``)
and its reads through the ``Indexer`` interface (one object at a time) give the object with only
those fields, its labels and annotations dicts shared by all objects with its state; the sharder's
passes read ``items()`` and build nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kubeloop.cache import Indexer, IndexFunc, Obj, ObjectKey, key_of
from kubeloop.client import ApiResource

__all__ = ["Record", "ShardLabels", "State"]

State = tuple[str | None, str | None, bool]
"""An object's assignment as the sharder reads it: its shard label, its seal, whether it is draining."""

_SHARED_MAX = 1024
"""Distinct states the record's objects share (a shard's, drained or not, each: a label edited by
hand adds one); past that, each object keeps its own."""


@dataclass(frozen=True)
class ShardLabels:
    """The keys an operator's sharding writes on its objects."""

    name: str

    @property
    def shard(self) -> str:
        """Label and annotation (the seal): the identity of the replica the object is assigned to."""
        return f"shard.kubeloop.io/{self.name}"

    @property
    def drain(self) -> str:
        """Label: the sharder asks the owner to let the object go."""
        return f"drain.shard.kubeloop.io/{self.name}"

    def selector(self, identity: str) -> str:
        """The label selector of one replica's share."""
        return f"{self.shard}={identity}"

    def of(self, obj: Obj) -> State:
        """(label, seal, draining) of ``obj``."""
        meta = obj.get("metadata") or {}
        labels = meta.get("labels") or {}
        seal = (meta.get("annotations") or {}).get(self.shard)
        return labels.get(self.shard), seal, self.drain in labels


class Record(Indexer):
    """The objects of one sharded resource as the sharder keeps them: by namespace and name, each its
    resourceVersion and ``State``. No index can be added (nothing reads the record so)."""

    def __init__(self, resource: ApiResource, labels: ShardLabels) -> None:
        super().__init__(defaults=False)
        self._api_version = resource.api_version
        self._kind = resource.kind
        self._labels = labels
        self._objects: dict[str, dict[str, tuple[str | None, State]]] = {}
        """namespace -> name -> (resourceVersion, state)"""
        self._shared: dict[State, tuple[State, dict[str, str] | None, dict[str, str] | None]] = {}
        """state -> (the state, its labels and annotations as objects carry them), each held once"""
        self._namespaces: dict[str, str] = {}
        self._count = 0

    def items(self) -> Iterator[tuple[str, str, str | None, State]]:
        """(namespace, name, resourceVersion, state) of every object, in no particular order."""
        for namespace, named in self._objects.items():
            for name, (version, state) in named.items():
                yield namespace, name, version, state

    def slim(self, obj: Obj) -> Obj:
        """The informer's transform: ``obj`` with only what the sharder reads of it (name, namespace,
        resourceVersion, the shard and drain labels, the seal); its other labels and annotations
        (``kubectl apply``'s copy of the whole object among them), owners, finalizers and
        managedFields would be most of it. Its labels and annotations are the dicts all objects with
        that state share (stored objects are never changed in place): a list of 10,000 objects holds
        them once, not 20,000 dicts until the list is stored."""
        key = key_of(obj)
        namespace = self._namespaces.get(key.namespace, key.namespace)
        if len(self._namespaces) < _SHARED_MAX:
            self._namespaces.setdefault(namespace, namespace)
        version = (obj.get("metadata") or {}).get("resourceVersion")
        return self._object(namespace, key.name, version, self._labels.of(obj))

    def _object(self, namespace: str, name: str, version: str | None, state: State) -> Obj:
        """The object as ``slim`` gives it (a drain label's value: ``true``)."""
        meta: Obj = {"name": name}
        if namespace:
            meta["namespace"] = namespace
        if version is not None:
            meta["resourceVersion"] = version
        _, labels, annotations = self._share(state)
        if labels is not None:
            meta["labels"] = labels
        if annotations is not None:
            meta["annotations"] = annotations
        return {"apiVersion": self._api_version, "kind": self._kind, "metadata": meta}

    def _share(self, state: State) -> tuple[State, dict[str, str] | None, dict[str, str] | None]:
        """``state`` as the objects share it: the tuple, its labels and its annotations."""
        shared = self._shared.get(state)
        if shared is None:
            label, seal, draining = state
            labels = {} if label is None else {self._labels.shard: label}
            if draining:
                labels[self._labels.drain] = "true"
            shared = (state, labels or None, None if seal is None else {self._labels.shard: seal})
            if len(self._shared) < _SHARED_MAX:
                self._shared[state] = shared
        return shared

    # -- the Indexer's interface, for the informer ------------------------------------------------

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[Obj]:
        return iter([self._object(*entry) for entry in self.items()])

    def get(self, key: ObjectKey) -> Obj | None:
        held = self._objects.get(key.namespace, {}).get(key.name)
        return None if held is None else self._object(key.namespace, key.name, *held)

    def keys(self) -> list[ObjectKey]:
        return [ObjectKey(namespace, name) for namespace, named in self._objects.items() for name in named]

    def add_indexer(self, name: str, func: IndexFunc) -> None:
        raise TypeError(f"the sharder's record keeps no index ({name!r} asked)")

    def upsert(self, obj: Obj) -> Obj | None:
        key = key_of(obj)
        named = self._objects.setdefault(key.namespace, {})
        old = named.get(key.name)
        version = (obj.get("metadata") or {}).get("resourceVersion")
        named[key.name] = (version, self._share(self._labels.of(obj))[0])
        if old is None:
            self._count += 1
            return None
        return self._object(key.namespace, key.name, *old)

    def delete(self, key: ObjectKey) -> Obj | None:
        named = self._objects.get(key.namespace)
        old = None if named is None else named.pop(key.name, None)
        if old is None:
            return None
        self._count -= 1
        if not named:
            del self._objects[key.namespace]
        return self._object(key.namespace, key.name, *old)
