"""Authentication and authorization of requests: who is asking, and may they.

``authn`` (client certificates, the admin token, service-account ``tokens``; anonymous otherwise) →
``impersonation`` (``Impersonate-*`` headers) → ``rbac`` (the RBAC authorizer over the request's
``attributes``), with the default ``policy`` (bootstrap roles, aggregation) and the review APIs
(``reviews``: can-i, rules, whoami).
"""

from __future__ import annotations

from kubeloop.apiserver.auth.attributes import RequestAttributes, forbidden, request_attributes
from kubeloop.apiserver.auth.authn import ADMIN, Authenticator
from kubeloop.apiserver.auth.impersonation import impersonate
from kubeloop.apiserver.auth.policy import aggregated_rules, bootstrap_policy, same_rules
from kubeloop.apiserver.auth.rbac import RBAC
from kubeloop.apiserver.auth.reviews import REVIEWS, Reviews
from kubeloop.apiserver.auth.tokens import ISSUER, TokenIssuer
from kubeloop.apiserver.auth.user import ANONYMOUS, UserInfo

__all__ = [
    "ADMIN",
    "ANONYMOUS",
    "ISSUER",
    "RBAC",
    "REVIEWS",
    "Authenticator",
    "RequestAttributes",
    "Reviews",
    "TokenIssuer",
    "UserInfo",
    "aggregated_rules",
    "bootstrap_policy",
    "forbidden",
    "impersonate",
    "request_attributes",
    "same_rules",
]
