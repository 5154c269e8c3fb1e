"""kubeloop.client: the async Kubernetes API client at the bottom of kubeloop.

``Client`` does the verbs on plain-dict objects (and on models, ``ResourceModel``); ``ClientConfig``
comes from kubeconfig files or the in-cluster service account; discovery maps names and kinds to
resources; errors are typed by the server's ``Status``; ``GroupVersionKind`` and
``GroupVersionResource`` (from ``kubeloop.gvk``) name kinds and resources. This package imports only
itself and the bottom layers ``kubeloop.errors``, ``kubeloop.clock`` (it takes a ``SleepClock``; tests
use ``InstantClock``), ``kubeloop.gvk`` and ``kubeloop.tokenbucket``.
"""

from kubeloop.client.api import (
    Client,
    ObjectList,
    PatchType,
    Preconditions,
    ResourceRef,
    TypedRef,
    resource_name,
)
from kubeloop.client.auth import CredentialError
from kubeloop.client.config import (
    ClientConfig,
    ConfigError,
    ExecConfig,
    load_config,
    load_in_cluster,
    load_kubeconfig,
)
from kubeloop.client.discovery import ApiResource, RestMapper
from kubeloop.client.errors import (
    STATUS_REASONS,
    AlreadyExistsError,
    ApiError,
    BadRequestError,
    ClientClosedError,
    ConflictError,
    ConnectError,
    ForbiddenError,
    GoneError,
    InternalError,
    InvalidError,
    MethodNotAllowedError,
    NotFoundError,
    ServerTimeoutError,
    ServiceUnavailableError,
    StatusCause,
    TooManyRequestsError,
    TransportError,
    UnauthorizedError,
    UnknownResourceError,
)
from kubeloop.client.metrics import MetricsHook, NoMetrics, RecordingMetrics
from kubeloop.client.models import ResourceModel
from kubeloop.client.ratelimit import RequestLimiter, RetryPolicy, TokenBucket
from kubeloop.client.transport import ClientSettings
from kubeloop.client.watch import WatchEvent
from kubeloop.gvk import GroupVersionKind, GroupVersionResource

__all__ = [
    "STATUS_REASONS",
    "AlreadyExistsError",
    "ApiError",
    "ApiResource",
    "BadRequestError",
    "Client",
    "ClientClosedError",
    "ClientConfig",
    "ClientSettings",
    "ConfigError",
    "ConflictError",
    "ConnectError",
    "CredentialError",
    "ExecConfig",
    "ForbiddenError",
    "GoneError",
    "GroupVersionKind",
    "GroupVersionResource",
    "InternalError",
    "InvalidError",
    "MethodNotAllowedError",
    "MetricsHook",
    "NoMetrics",
    "NotFoundError",
    "ObjectList",
    "PatchType",
    "Preconditions",
    "RecordingMetrics",
    "RequestLimiter",
    "ResourceModel",
    "ResourceRef",
    "RestMapper",
    "RetryPolicy",
    "ServerTimeoutError",
    "ServiceUnavailableError",
    "StatusCause",
    "TokenBucket",
    "TooManyRequestsError",
    "TransportError",
    "TypedRef",
    "UnauthorizedError",
    "UnknownResourceError",
    "WatchEvent",
    "load_config",
    "load_in_cluster",
    "load_kubeconfig",
    "resource_name",
]
