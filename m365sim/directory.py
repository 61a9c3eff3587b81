"""Tenants, users, app registrations and consent grants (the Entra ID side of the sim)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from . import certs


@dataclass
class User:
    id: str
    tenant_id: str
    user_principal_name: str
    display_name: str
    given_name: str | None = None
    surname: str | None = None
    job_title: str | None = None
    mail: str | None = None
    office_location: str | None = None
    mobile_phone: str | None = None
    preferred_language: str | None = "en-US"
    account_enabled: bool = True

    @property
    def address(self) -> str:
        return self.mail or self.user_principal_name


@dataclass
class UsersDeltaState:
    """A users delta round: the sequence it reads changes after, and what is still to page."""

    seq: int
    select: str | None
    pending: list[str] = field(default_factory=list)  # user ids; removed ones are tombstoned


@dataclass
class Tenant:
    id: str
    domain: str
    display_name: str
    users: dict[str, User] = field(default_factory=dict)
    # Directory change tracking for /users/delta: a sequence bumped on each change, the
    # sequence of each user's last change, and the users removed (id -> sequence).
    seq: int = 0
    changed: dict[str, int] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)
    delta_tokens: dict[str, UsersDeltaState] = field(default_factory=dict)
    # Security groups: group id -> member user ids (for /groups/{id}/members).
    groups: dict[str, list[str]] = field(default_factory=dict)

    def add_user(self, user: User) -> None:
        self.seq += 1
        self.users[user.id] = user
        self.changed[user.id] = self.seq
        self.removed.pop(user.id, None)

    def touch_user(self, user_id: str) -> None:
        """A property of the user changed (the next delta round lists it)."""
        self.seq += 1
        self.changed[user_id] = self.seq

    def remove_user(self, user_id: str) -> User | None:
        user = self.users.pop(user_id, None)
        if user is not None:
            self.seq += 1
            self.removed[user_id] = self.seq
            self.changed.pop(user_id, None)
        return user

    def find_user(self, ref: str) -> User | None:
        """By object id or by UPN/mail, case-insensitive as Graph resolves them."""
        key = ref.strip().lower()
        for user in self.users.values():
            if key in (user.id.lower(), user.user_principal_name.lower(), (user.mail or "").lower()):
                return user
        return None


@dataclass
class AppCertificate:
    cert: x509.Certificate
    cert_path: str | None = None
    key_path: str | None = None

    @property
    def public_key(self) -> rsa.RSAPublicKey:
        key = self.cert.public_key()
        assert isinstance(key, rsa.RSAPublicKey)
        return key

    def describe(self) -> dict[str, Any]:
        return {
            "thumbprint": certs.thumbprint_sha1(self.cert),
            "thumbprintSha256": certs.thumbprint_sha256(self.cert),
            "x5t": certs.x5t(self.cert),
            "x5tS256": certs.x5t_s256(self.cert),
            "certPath": self.cert_path,
            "keyPath": self.key_path,
            "pem": self.cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        }


@dataclass
class App:
    client_id: str
    display_name: str
    secrets: list[str] = field(default_factory=list)
    certificates: list[AppCertificate] = field(default_factory=list)
    required_permissions: list[str] = field(default_factory=list)

    def find_certificate(self, x5t: str | None, x5t_s256: str | None) -> AppCertificate | None:
        """Match the assertion's thumbprint header (base64 or base64url, padded or not)."""
        for cert in self.certificates:
            if x5t_s256 and certs.b64_equal(x5t_s256, certs.x5t_s256(cert.cert)):
                return cert
            if x5t and certs.b64_equal(x5t, certs.x5t(cert.cert)):
                return cert
        return None


@dataclass
class Grant:
    """Admin consent of an app in a tenant: its service principal plus granted app roles."""

    permissions: set[str]
    # Exchange RBAC for Applications: None = every mailbox; else the allowed user ids.
    mailboxes: set[str] | None = None


@dataclass
class Directory:
    tenants: dict[str, Tenant] = field(default_factory=dict)
    apps: dict[str, App] = field(default_factory=dict)
    grants: dict[tuple[str, str], Grant] = field(default_factory=dict)

    def find_tenant(self, ref: str) -> Tenant | None:
        key = ref.strip().lower()
        for tenant in self.tenants.values():
            if key in (tenant.id.lower(), tenant.domain.lower()):
                return tenant
        return None

    def find_app(self, client_id: str) -> App | None:
        return self.apps.get(client_id.strip().lower())

    def grant(self, tenant_id: str, client_id: str) -> Grant | None:
        return self.grants.get((tenant_id, client_id.lower()))

    def find_user_anywhere(self, address: str) -> User | None:
        for tenant in self.tenants.values():
            user = tenant.find_user(address)
            if user:
                return user
        return None


class SeedError(ValueError):
    pass


def load_seed_file(path: Path) -> dict[str, Any]:
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() in (".yaml", ".yml"):
        import yaml  # only needed for YAML seeds

        data = yaml.safe_load(text)
    else:
        data = json.loads(text)
    if not isinstance(data, dict):
        raise SeedError("seed must be a JSON/YAML object")
    return data


def default_seed() -> dict[str, Any]:
    return json.loads((Path(__file__).parent / "default_seed.json").read_text(encoding="utf-8"))


def build_directory(seed: dict[str, Any], state_dir: Path) -> Directory:
    """Turn a seed document into a Directory; generates app certificates when asked."""
    directory = Directory()
    for raw_app in seed.get("apps", []):
        client_id = str(raw_app["clientId"]).lower()
        app = App(
            client_id=client_id,
            display_name=raw_app.get("displayName", client_id),
            secrets=list(raw_app.get("secrets", [])),
            required_permissions=list(raw_app.get("requiredPermissions", [])),
        )
        cert_spec = raw_app.get("certificate")
        if cert_spec:
            app.certificates.append(_app_certificate(cert_spec, client_id, state_dir))
        directory.apps[client_id] = app
    for raw_tenant in seed.get("tenants", []):
        tenant = Tenant(
            id=str(raw_tenant["id"]).lower(),
            domain=raw_tenant["domain"].lower(),
            display_name=raw_tenant.get("displayName", raw_tenant["domain"]),
        )
        for raw_user in raw_tenant.get("users", []):
            upn = raw_user["userPrincipalName"]
            user = User(
                id=str(raw_user["id"]).lower(),
                tenant_id=tenant.id,
                user_principal_name=upn,
                display_name=raw_user.get("displayName", upn.split("@")[0]),
                given_name=raw_user.get("givenName"),
                surname=raw_user.get("surname"),
                job_title=raw_user.get("jobTitle"),
                mail=raw_user.get("mail", upn),
                office_location=raw_user.get("officeLocation"),
                mobile_phone=raw_user.get("mobilePhone"),
            )
            tenant.users[user.id] = user
        for raw_group in raw_tenant.get("groups", []):
            members = [tenant.find_user(ref) for ref in raw_group.get("members", [])]
            if any(m is None for m in members):
                raise SeedError(f"group {raw_group.get('id')} names an unknown member")
            tenant.groups[str(raw_group["id"]).lower()] = [m.id for m in members if m is not None]
        directory.tenants[tenant.id] = tenant
        for raw_grant in raw_tenant.get("grants", []):
            client_id = str(raw_grant["app"]).lower()
            if client_id not in directory.apps:
                raise SeedError(f"grant for unknown app {client_id}")
            mailboxes = raw_grant.get("mailboxes")
            directory.grants[(tenant.id, client_id)] = Grant(
                permissions=set(raw_grant.get("permissions", [])),
                mailboxes=resolve_mailboxes(tenant, mailboxes) if mailboxes is not None else None,
            )
    return directory


def resolve_mailboxes(tenant: Tenant, refs: list[str]) -> set[str]:
    ids: set[str] = set()
    for ref in refs:
        user = tenant.find_user(ref)
        if user is None:
            raise SeedError(f"unknown mailbox {ref} in tenant {tenant.domain}")
        ids.add(user.id)
    return ids


def _app_certificate(spec: dict[str, Any], client_id: str, state_dir: Path) -> AppCertificate:
    if spec.get("generate"):
        app_dir = state_dir / "apps"
        app_dir.mkdir(parents=True, exist_ok=True)
        pair = certs.self_signed(
            f"m365sim app {client_id}",
            app_dir / f"{client_id}.cert.pem",
            app_dir / f"{client_id}.key.pem",
        )
        return AppCertificate(pair.cert, str(pair.cert_path), str(pair.key_path))
    if "pem" in spec:
        cert = x509.load_pem_x509_certificate(spec["pem"].encode("ascii"))
        return AppCertificate(cert)
    if "path" in spec:
        cert = x509.load_pem_x509_certificate(Path(spec["path"]).read_bytes())
        return AppCertificate(cert, str(spec["path"]))
    raise SeedError("app certificate needs generate, pem or path")


def describe_seed(directory: Directory) -> dict[str, Any]:
    """What ``GET /_sim/seed`` returns: enough for a test to authenticate and find mailboxes."""
    tenants = []
    for tenant in directory.tenants.values():
        grants = []
        for (tenant_id, client_id), grant in directory.grants.items():
            if tenant_id == tenant.id:
                grants.append(
                    {
                        "app": client_id,
                        "permissions": sorted(grant.permissions),
                        "mailboxes": sorted(grant.mailboxes) if grant.mailboxes is not None else None,
                    }
                )
        tenants.append(
            {
                "id": tenant.id,
                "domain": tenant.domain,
                "displayName": tenant.display_name,
                "users": [
                    {
                        "id": u.id,
                        "userPrincipalName": u.user_principal_name,
                        "displayName": u.display_name,
                        "mail": u.mail,
                        "jobTitle": u.job_title,
                    }
                    for u in tenant.users.values()
                ],
                "grants": grants,
            }
        )
    apps = [
        {
            "clientId": app.client_id,
            "displayName": app.display_name,
            "secrets": list(app.secrets),
            "certificates": [c.describe() for c in app.certificates],
            "requiredPermissions": list(app.required_permissions),
        }
        for app in directory.apps.values()
    ]
    return {"tenants": tenants, "apps": apps}
