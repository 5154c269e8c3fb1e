"""HTTP: the routes of the Kubernetes REST paths, discovery and OpenAPI (``routes``), watch streams
(``watch``), ``Table`` output (``tables``), protobuf request bodies (``protobuf``), the middlewares
(``filters``) and responses. Decodes requests, calls ``rest.Api``, encodes what it returns."""

from __future__ import annotations

from kubeloop.apiserver.http.filters import access, status_errors
from kubeloop.apiserver.http.responses import json_response
from kubeloop.apiserver.http.routes import Routes

__all__ = ["Routes", "access", "json_response", "status_errors"]
