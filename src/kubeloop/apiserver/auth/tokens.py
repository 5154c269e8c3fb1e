"""Service-account tokens: issued by the TokenRequest API (``serviceaccounts/<name>/token``) and
checked on every request that carries one, as the real server does.

A token is an ES256 JWT (issuer ``https://kubernetes.default.svc``, the server's default audience)
naming the service account by namespace, name and UID, and optionally the Secret, Pod or Node it is
bound to. It authenticates only while its signature verifies with the server's key, it is within
``nbf``..``exp``, one of its audiences is the server's, and the service account and the bound object
still exist with the UIDs it names.
"""

from __future__ import annotations

import base64
import hashlib
import time
import uuid
from typing import Any

import orjson
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from kubeloop.apiserver.auth.user import UserInfo, service_account
from kubeloop.apiserver.machinery import meta
from kubeloop.apiserver.machinery.errors import Cause, StatusError, bad_request, invalid, not_found
from kubeloop.apiserver.storage import Store

__all__ = ["ISSUER", "TokenIssuer"]

Obj = dict[str, Any]
ISSUER = "https://kubernetes.default.svc"
_GROUP = "authentication.k8s.io"
_MIN_SECONDS = 600
_DEFAULT_SECONDS = 3600
# What a token may be bound to, and where such objects are stored.
_BINDABLE = {"Pod": "/pods", "Secret": "/secrets", "Node": "/nodes"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    """Signs and verifies service-account tokens with one EC P-256 key."""

    def __init__(self, key_pem: bytes, store: Store, audiences: tuple[str, ...] = (ISSUER,)) -> None:
        key = serialization.load_pem_private_key(key_pem, password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("the service-account signing key is not an elliptic-curve key")
        self._key = key
        self._public = key.public_key()
        der = self._public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self._kid = _b64(hashlib.sha256(der).digest())
        self.store = store
        self.audiences = audiences

    # -- TokenRequest ------------------------------------------------------------------------------

    def request(self, namespace: str, name: str, body: Obj) -> Obj:
        """The TokenRequest ``body`` for service account ``namespace/name`` answered with a token."""
        account = self.store.get(("/serviceaccounts", namespace, name))
        if account is None:
            raise not_found("serviceaccounts", "", name)
        spec = dict(body.get("spec") or {}) if isinstance(body, dict) else {}
        seconds = spec.get("expirationSeconds") or _DEFAULT_SECONDS
        if not isinstance(seconds, int) or seconds < _MIN_SECONDS:
            cause = Cause(
                "FieldValueInvalid",
                f"Invalid value: {seconds}: may not specify a duration less than 10 minutes",
                "spec.expirationSeconds",
            )
            raise invalid("TokenRequest", _GROUP, "", [cause])
        audiences = list(spec.get("audiences") or self.audiences)
        ref = spec.get("boundObjectRef") or None
        now = int(time.time())
        claims: Obj = {
            "aud": audiences,
            "exp": now + seconds,
            "iat": now,
            "iss": ISSUER,
            "jti": str(uuid.uuid4()),
            "kubernetes.io": {
                "namespace": namespace,
                "serviceaccount": {"name": name, "uid": account["metadata"]["uid"]},
            },
            "nbf": now,
            "sub": f"system:serviceaccount:{namespace}:{name}",
        }
        if ref is not None:
            claims["kubernetes.io"][ref.get("kind", "").lower()] = self._bound(namespace, ref)
        token = self.sign(claims)
        return {
            "kind": "TokenRequest",
            "apiVersion": f"{_GROUP}/v1",
            "metadata": {"name": name, "namespace": namespace, "creationTimestamp": meta.now()},
            "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": ref},
            "status": {"token": token, "expirationTimestamp": meta.format_time(now + seconds)},
        }

    def _bound(self, namespace: str, ref: Obj) -> Obj:
        kind, version = ref.get("kind", ""), ref.get("apiVersion", "")
        storage = _BINDABLE.get(kind) if version == "v1" else None
        if storage is None:
            raise bad_request(f"cannot bind token to object of type {_gvk(version, kind)}")
        name = ref.get("name", "")
        obj = self.store.get((storage, "" if kind == "Node" else namespace, name))
        if obj is None:
            raise not_found(storage.strip("/"), "", name)
        uid = obj["metadata"]["uid"]
        if ref.get("uid") and ref["uid"] != uid:
            raise StatusError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {storage.strip("/")} "{name}": '
                f"the UID in the bound object reference ({ref['uid']}) does not match the UID in record. "
                "The object might have been deleted and then recreated",
            )
        return {"name": name, "uid": uid}

    # -- authentication ----------------------------------------------------------------------------

    def authenticate(self, token: str) -> UserInfo | None:
        """The service account ``token`` authenticates, or None (not one of ours, or no longer valid)."""
        claims = self._verify(token)
        if claims is None:
            return None
        now = time.time()
        if not (claims.get("nbf", 0) <= now < claims.get("exp", 0)):
            return None
        audiences = claims.get("aud")
        audiences = [audiences] if isinstance(audiences, str) else audiences or []
        if not set(audiences) & set(self.audiences):
            return None
        info = claims.get("kubernetes.io") or {}
        namespace = info.get("namespace", "")
        account = info.get("serviceaccount") or {}
        stored = self.store.get(("/serviceaccounts", namespace, account.get("name", "")))
        if not self._same(stored, account):
            return None
        extra = {"authentication.kubernetes.io/credential-id": [f"JTI={claims.get('jti', '')}"]}
        for kind, storage in _BINDABLE.items():
            ref = info.get(kind.lower())
            if ref is None:
                continue
            bound = self.store.get((storage, "" if kind == "Node" else namespace, ref.get("name", "")))
            if not self._same(bound, ref):
                return None
            if kind != "Secret":
                extra[f"authentication.kubernetes.io/{kind.lower()}-name"] = [ref["name"]]
                extra[f"authentication.kubernetes.io/{kind.lower()}-uid"] = [ref["uid"]]
        assert stored is not None
        return service_account(namespace, account["name"], stored["metadata"]["uid"], extra)

    @staticmethod
    def _same(obj: Obj | None, ref: Obj) -> bool:
        """``obj`` exists, is the one ``ref`` names (same UID) and is not being deleted."""
        md = (obj or {}).get("metadata") or {}
        return obj is not None and md.get("uid") == ref.get("uid") and not md.get("deletionTimestamp")

    # -- JWT ---------------------------------------------------------------------------------------

    def sign(self, claims: Obj) -> str:
        """A token of ``claims`` signed with this issuer's key."""
        header = _b64(orjson.dumps({"alg": "ES256", "kid": self._kid}))
        payload = _b64(orjson.dumps(claims))
        der = self._key.sign(f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        return f"{header}.{payload}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"

    def _verify(self, token: str) -> Obj | None:
        try:
            header, payload, signature = token.split(".")
            if orjson.loads(_unb64(header)).get("alg") != "ES256":
                return None
            raw = _unb64(signature)
            if len(raw) != 64:
                return None
            der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
            self._public.verify(der, f"{header}.{payload}".encode(), ec.ECDSA(hashes.SHA256()))
            claims = orjson.loads(_unb64(payload))
        except (ValueError, InvalidSignature, orjson.JSONDecodeError):
            return None
        if not isinstance(claims, dict) or claims.get("iss") != ISSUER:
            return None
        return claims


def _gvk(api_version: str, kind: str) -> str:
    group, _, version = api_version.rpartition("/")
    return f"{group}/{version}, Kind={kind}"
