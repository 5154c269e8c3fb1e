"""The verbs (``api.Api``: get, list, create, update, patch, apply, delete, deletecollection) as
kube-apiserver's generic registry store: each write one atomic job in the store, the kind's strategy
and the admission chain on the way; with ``patch`` (JSON, merge and strategic merge patches),
``fields`` (managedFields and server-side apply) and ``scale`` (the scale subresource)."""
