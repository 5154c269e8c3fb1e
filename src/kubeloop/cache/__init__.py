"""The cache layer: informers that list and watch resources into indexed stores.

Role: between ``kubeloop.client`` (below) and the controller (above). Reads of a controller come
from here; each informer tells handlers what changed. See ``_informer`` for the guarantees.
"""

from kubeloop.cache._cache import Cache, CacheOptions
from kubeloop.cache._informer import (
    Informer,
    InformerEvent,
    InformerOptions,
    Transform,
    slim_managed_fields,
    strip_managed_fields,
)
from kubeloop.cache._selectors import LabelSelector, SelectorError, selector_from_dict
from kubeloop.cache._store import INDEX_NAMESPACE, INDEX_OWNER, IndexFunc, Obj, ObjectKey, Store, key_of

__all__ = [
    "INDEX_NAMESPACE",
    "INDEX_OWNER",
    "Cache",
    "CacheOptions",
    "IndexFunc",
    "Informer",
    "InformerEvent",
    "InformerOptions",
    "LabelSelector",
    "Obj",
    "ObjectKey",
    "SelectorError",
    "Store",
    "Transform",
    "key_of",
    "selector_from_dict",
    "slim_managed_fields",
    "strip_managed_fields",
]
