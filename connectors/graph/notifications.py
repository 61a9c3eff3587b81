"""Change notifications from Graph: parsing only (no Graph call and no authentication here).

Authenticating a notification (``clientState`` against the stored keyed hash, tenant) is done
in one place, by ``connectors.service.intake`` with ``SubscriptionStore.authenticate``; this
module gives it the handshake token and the parsed notifications. Rich notifications (resource
data encrypted with our certificate) are decrypted and verified with Microsoft's documented
algorithm when enabled.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, padding
from cryptography.hazmat.primitives.asymmetric import padding as asym_padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from tap_core.parsing.timestamps import parse_iso_datetime

#: App id of Microsoft Graph Change Tracking: the ``azp`` of rich-notification validation tokens.
GRAPH_CHANGE_TRACKING_APP_ID = "0bf30f3b-4a52-48df-9a82-234910c4a086"
LIFECYCLE_EVENTS = frozenset({"reauthorizationRequired", "subscriptionRemoved", "missed"})


#: Graph's subscription ids are GUIDs (36 characters): anything much longer is not one, and is
#: refused before it reaches a table key.
MAX_SUBSCRIPTION_ID = 128


class NotificationError(ValueError):
    """The POSTed body is not a Graph notification collection."""


class NotificationLimitError(NotificationError):
    """The body holds more notifications than one request may carry (the limit is in the message)."""


@dataclass
class ChangeNotification:
    subscription_id: str
    tenant_id: str
    client_state: str = field(repr=False)
    change_type: str
    resource: str
    resource_data: dict[str, Any]
    subscription_expiration: datetime | None = None
    encrypted_content: dict[str, Any] | None = None

    @property
    def message_id(self) -> str:
        return str(self.resource_data.get("id") or _resource_parts(self.resource).get("messages", ""))

    @property
    def mailbox(self) -> str:
        """User id from ``Users/{id}/Messages/{id}`` (Graph's notification resource)."""
        return _resource_parts(self.resource).get("users", "")


@dataclass
class LifecycleNotification:
    subscription_id: str
    tenant_id: str
    client_state: str = field(repr=False)
    event: str  # reauthorizationRequired | subscriptionRemoved | missed
    subscription_expiration: datetime | None = None


Notification = ChangeNotification | LifecycleNotification


@dataclass
class NotificationBatch:
    notifications: list[Notification]
    validation_tokens: list[str]  # present with rich notifications (JWTs to verify)


def validation_token(query: Mapping[str, str]) -> str | None:
    """The handshake token when this POST is Graph validating the URL: answer it with 200,
    ``text/plain``, the token as body (the framework already URL-decoded it)."""
    for key, value in query.items():
        if key.lower() == "validationtoken":
            return value
    return None


def _resource_parts(resource: str) -> dict[str, str]:
    parts = [p for p in resource.replace("('", "/").replace("')", "").split("/") if p]
    return {parts[i].lower(): parts[i + 1] for i in range(0, len(parts) - 1, 2)}


def parse_notifications(
    body: bytes | str | Mapping[str, Any], *, max_notifications: int | None = None
) -> NotificationBatch:
    """Parse ``{"value": [...], "validationTokens": [...]}``; raise NotificationError if malformed,
    NotificationLimitError if ``value`` holds more than ``max_notifications`` items."""
    data: Any = body
    if isinstance(body, bytes | str):
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise NotificationError("notification body is not JSON") from exc
        except RecursionError as exc:  # nesting deeper than the parser's recursion limit
            raise NotificationError("notification body is nested too deeply") from exc
    if not isinstance(data, Mapping) or not isinstance(data.get("value"), list):
        raise NotificationError("notification body has no 'value' array")
    if max_notifications is not None and len(data["value"]) > max_notifications:
        raise NotificationLimitError(
            f"{len(data['value'])} notifications in one request; at most {max_notifications}")
    result: list[Notification] = []
    for item in data["value"]:
        if not isinstance(item, Mapping) or not item.get("subscriptionId"):
            raise NotificationError("notification without subscriptionId")
        subscription_id = str(item["subscriptionId"])
        if len(subscription_id) > MAX_SUBSCRIPTION_ID:
            raise NotificationError(f"subscriptionId longer than {MAX_SUBSCRIPTION_ID} characters")
        tenant_id = str(item.get("tenantId") or "").lower()
        client_state = str(item.get("clientState") or "")
        expiration = parse_iso_datetime(item.get("subscriptionExpirationDateTime"))
        event = item.get("lifecycleEvent")
        if event:
            result.append(
                LifecycleNotification(subscription_id, tenant_id, client_state, str(event), expiration)
            )
            continue
        resource_data = item.get("resourceData")
        encrypted = item.get("encryptedContent")
        result.append(
            ChangeNotification(
                subscription_id=subscription_id,
                tenant_id=tenant_id,
                client_state=client_state,
                change_type=str(item.get("changeType") or ""),
                resource=str(item.get("resource") or ""),
                resource_data=dict(resource_data) if isinstance(resource_data, Mapping) else {},
                subscription_expiration=expiration,
                encrypted_content=dict(encrypted) if isinstance(encrypted, Mapping) else None,
            )
        )
    tokens = data.get("validationTokens")
    if tokens is not None and not isinstance(tokens, list):
        raise NotificationError("notification body's 'validationTokens' is not an array")
    return NotificationBatch(result, [t for t in tokens or [] if isinstance(t, str)])


# Rich notifications ------------------------------------------------------------------------


class DecryptionError(ValueError):
    """Encrypted resource data that cannot be trusted (bad key, signature or padding)."""


def decrypt_resource_data(
    encrypted: Mapping[str, Any], private_key_for: Callable[[str], RSAPrivateKey | None]
) -> dict[str, Any]:
    """Decrypt ``encryptedContent`` as Microsoft documents it.

    ``dataKey``: RSA-OAEP (SHA-1) with our certificate's key -> the symmetric key.
    ``dataSignature``: base64 HMAC-SHA256(symmetric key, encrypted data), checked first.
    ``data``: AES-CBC, key = symmetric key, IV = its first 16 bytes, PKCS7 padding -> JSON.
    """
    cert_id = str(encrypted.get("encryptionCertificateId") or "")
    key = private_key_for(cert_id)
    if key is None:
        raise DecryptionError(f"no private key for encryptionCertificateId {cert_id!r}")
    try:
        data_key = base64.b64decode(str(encrypted["dataKey"]))
        data = base64.b64decode(str(encrypted["data"]))
        signature = base64.b64decode(str(encrypted["dataSignature"]))
    except (KeyError, binascii.Error) as exc:
        raise DecryptionError("encryptedContent lacks data, dataKey or dataSignature") from exc
    oaep = asym_padding.OAEP(mgf=asym_padding.MGF1(hashes.SHA1()), algorithm=hashes.SHA1(), label=None)  # noqa: S303 - Graph's documented cipher suite
    try:
        symmetric = key.decrypt(data_key, oaep)
    except ValueError as exc:
        raise DecryptionError("dataKey does not decrypt with our key (wrong certificate?)") from exc
    expected = hmac.new(symmetric, data, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, signature):
        raise DecryptionError("dataSignature does not match: the content was altered")
    if len(symmetric) not in (16, 24, 32) or len(data) % 16:
        raise DecryptionError("unexpected key or data length")
    decryptor = Cipher(algorithms.AES(symmetric), modes.CBC(symmetric[:16])).decryptor()
    padded = decryptor.update(data) + decryptor.finalize()
    unpadder = padding.PKCS7(128).unpadder()
    try:
        plain = unpadder.update(padded) + unpadder.finalize()
        result = json.loads(plain)
    except ValueError as exc:
        raise DecryptionError("decrypted content is not padded JSON") from exc
    if not isinstance(result, dict):
        raise DecryptionError("decrypted content is not a JSON object")
    return result


def verify_validation_tokens(
    tokens: Iterable[str],
    jwks: Mapping[str, Any],
    app_id: str,
    tenant_ids: Iterable[str],
    *,
    leeway: float = 300.0,
) -> None:
    """Check every ``validationTokens`` JWT: signed by a key in ``jwks`` (Microsoft identity
    platform keys), not expired, audience our app, issued for one of ``tenant_ids`` and
    authorised party Graph Change Tracking. Raises DecryptionError on the first bad one."""
    keys = {k.get("kid"): k for k in jwks.get("keys") or [] if isinstance(k, Mapping)}
    tenants = {t.lower() for t in tenant_ids}
    for token in tokens:
        try:
            header = jwt.get_unverified_header(token)
            jwk = keys.get(header.get("kid"))
            if jwk is None:
                raise DecryptionError(f"validation token signed by unknown key {header.get('kid')!r}")
            claims = jwt.decode(
                token,
                jwt.PyJWK(dict(jwk)).key,
                algorithms=["RS256"],
                audience=app_id,
                leeway=leeway,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise DecryptionError(f"validation token rejected: {exc}") from exc
        issuer = str(claims.get("iss") or "")
        tid = str(claims.get("tid") or _issuer_tenant(issuer)).lower()
        if tid not in tenants:
            raise DecryptionError(f"validation token issued for tenant {tid!r}, not a subscribed one")
        if str(claims.get("azp") or claims.get("appid") or "") != GRAPH_CHANGE_TRACKING_APP_ID:
            raise DecryptionError("validation token not issued to Microsoft Graph Change Tracking")


def _issuer_tenant(issuer: str) -> str:
    # https://sts.windows.net/{tid}/ or https://login.microsoftonline.com/{tid}/v2.0
    parts = [p for p in issuer.split("/") if p]
    return parts[2] if len(parts) > 2 else ""
