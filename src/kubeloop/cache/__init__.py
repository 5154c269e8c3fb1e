"""The cache layer: informers that list and watch resources into indexed stores.

Role: between ``kubeloop.client`` (below) and the controller (above). Reads of a controller come
from here; each informer keeps an ``Indexer`` and tells handlers what changed. See ``_informer``
for the guarantees. Label selectors are ``kubeloop.labels``'s (re-exported here), the grammar the
embedded API server uses too.
"""

from kubeloop._deprecated import deprecated_aliases
from kubeloop.cache._cache import Cache, CacheOptions
from kubeloop.cache._informer import Informer, InformerEvent, InformerOptions
from kubeloop.cache._intern import Interner
from kubeloop.cache._listwatch import ListerWatcher
from kubeloop.cache._store import INDEX_NAMESPACE, INDEX_OWNER, Indexer, IndexFunc, Obj, ObjectKey, key_of
from kubeloop.cache._transforms import (
    Transform,
    slim_managed_fields,
    slim_managed_fields_except,
    strip_managed_fields,
)
from kubeloop.labels import LabelSelector, SelectorError, selector_from_dict

__all__ = [
    "INDEX_NAMESPACE",
    "INDEX_OWNER",
    "Cache",
    "CacheOptions",
    "IndexFunc",
    "Indexer",
    "Informer",
    "InformerEvent",
    "InformerOptions",
    "Interner",
    "LabelSelector",
    "ListerWatcher",
    "Obj",
    "ObjectKey",
    "SelectorError",
    "Transform",
    "key_of",
    "selector_from_dict",
    "slim_managed_fields",
    "slim_managed_fields_except",
    "strip_managed_fields",
]

__getattr__ = deprecated_aliases(__name__, {"Store": (Indexer, "kubeloop.cache.Indexer")})
