"""The registry: what the server serves. ``types`` (``ResourceType``, the ``Registry`` of built-in and
CRD resources), ``bundled`` (the real server's discovery and OpenAPI documents shipped as data),
``schemas`` (an object's schema for merging and validation), ``convert`` (versions sharing storage),
``discovery`` and ``openapi`` (the documents served)."""

from __future__ import annotations

from kubeloop.apiserver.registry.types import Registry, ResourceType, ScalePaths, by_storage

__all__ = ["Registry", "ResourceType", "ScalePaths", "by_storage"]
