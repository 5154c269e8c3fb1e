"""Authentication (and, with RBAC, authorization) of requests: who is asking, and may they.

Today: ``authn.Authenticator`` (client certificate or bearer token); every authenticated user is an
administrator. The RBAC authorizer goes in ``authz`` here.
"""

from __future__ import annotations

from kubeloop.apiserver.auth.authn import PUBLIC_PATHS, Authenticator

__all__ = ["PUBLIC_PATHS", "Authenticator"]
