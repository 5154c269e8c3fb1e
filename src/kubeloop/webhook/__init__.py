"""kubeloop.webhook: admission (defaulting, validating) and CRD conversion webhooks over HTTPS.

Role: the webhook server that runs inside the manager (controller-runtime's ``pkg/webhook``). The
operator facade declares webhooks next to the model (``@operator.default(Kind)``,
``@operator.validate(Kind)``, ``@operator.convert(V1, V2)``) and runs a ``WebhookServer`` with them;
``kubeloop generate webhook`` writes their configurations from the same declarations.

- ``Defaulter`` / ``Validator``: typed admission handlers over an author's function; ``Denied`` and
  ``Invalid(FieldError(...))`` reject, returned strings are warnings, the defaulter's answer is the
  JSON patch of its changes.
- ``Conversions``: conversion functions between versions of a kind (hub and spoke), served at
  ``/convert``.
- ``WebhookServer(WebhookServerOptions)``: aiohttp over TLS, certificate from a directory and
  reloaded on change (``CertWatcher``), HTTP 400 for bodies that are not reviews, metrics on the
  manager's registry.
- ``AdmissionWebhook``: one declared webhook, its settings one ``AdmissionOptions``.
- ``configurations`` / ``conversion_stanza`` / ``ClientConfig``: the API objects pointing at the
  server; ``serving_certificate`` issues a CA and serving certificate for local runs and tests, and
  ``LocalWebhooks`` installs configurations reaching a server outside the cluster (and removes them).

Imports ``kubeloop.manager`` (metrics, bind addresses, ``WebhookServerOptions``), ``kubeloop.client``,
``kubeloop.crd``, ``kubeloop.certs``, ``kubeloop.gvk`` and ``kubeloop.errors``; nothing above it.
"""

from kubeloop.gvk import GroupVersionKind, GroupVersionResource
from kubeloop.manager import WebhookServerOptions
from kubeloop.webhook._admission import (
    AdmissionHandler,
    Defaulter,
    DefaultFn,
    Denied,
    FieldError,
    Invalid,
    Target,
    ValidateFn,
    Validator,
)
from kubeloop.webhook._config import (
    CONVERT_PATH,
    AdmissionOptions,
    AdmissionWebhook,
    ClientConfig,
    FailurePolicy,
    SideEffects,
    configurations,
    conversion_stanza,
    serving_certificate,
    webhook_path,
)
from kubeloop.webhook._conversion import ConversionError, Conversions, ConvertFn
from kubeloop.webhook._local import LocalWebhooks
from kubeloop.webhook._patch import json_patch
from kubeloop.webhook._review import (
    AdmissionRequest,
    AdmissionResponse,
    BadReview,
    Operation,
)
from kubeloop.webhook._server import DEFAULT_CERT_DIR, WebhookMetrics, WebhookServer
from kubeloop.webhook._tls import CertWatcher

__all__ = [
    "CONVERT_PATH",
    "DEFAULT_CERT_DIR",
    "AdmissionHandler",
    "AdmissionOptions",
    "AdmissionRequest",
    "AdmissionResponse",
    "AdmissionWebhook",
    "BadReview",
    "CertWatcher",
    "ClientConfig",
    "ConversionError",
    "Conversions",
    "ConvertFn",
    "DefaultFn",
    "Defaulter",
    "Denied",
    "FailurePolicy",
    "FieldError",
    "GroupVersionKind",
    "GroupVersionResource",
    "Invalid",
    "LocalWebhooks",
    "Operation",
    "SideEffects",
    "Target",
    "ValidateFn",
    "Validator",
    "WebhookMetrics",
    "WebhookServer",
    "WebhookServerOptions",
    "configurations",
    "conversion_stanza",
    "json_patch",
    "serving_certificate",
    "webhook_path",
]
