"""CEL in the embedded server, as kube-apiserver runs it for CRDs' ``x-kubernetes-validations``.

- ``evaluation``: rules run against objects (our CEL library, ``common-expression-language``);
- ``compilation``: rules compiled when a CRD is created or updated, refused as the real server refuses
  them, built of ``parse`` (the syntax tree our library keeps to itself), ``decls`` (the CEL types of
  schema nodes), ``checker`` (cel-go's type check) and ``cost`` (cel-go's worst-case cost estimate).
"""

from __future__ import annotations

__all__: list[str] = []
