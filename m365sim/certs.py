"""Local PKI: a CA, the HTTPS server certificate, the token-signing key and app certificates.

Everything lives in the state folder and is reused when present, so clients that trust
``ca.pem`` keep working across restarts with the same ``--state``.
"""

from __future__ import annotations

import base64
import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

CA_FILE = "ca.pem"
CA_KEY_FILE = "ca-key.pem"
SERVER_CERT_FILE = "server.pem"
SERVER_KEY_FILE = "server-key.pem"
SIGNING_CERT_FILE = "token-signing.pem"
SIGNING_KEY_FILE = "token-signing-key.pem"


@dataclass(frozen=True)
class KeyPair:
    cert: x509.Certificate
    key: rsa.RSAPrivateKey
    cert_path: Path
    key_path: Path


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write(path: Path, data: bytes, private: bool = False) -> None:
    path.write_bytes(data)
    if private:
        path.chmod(0o600)


def _key_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _load(cert_path: Path, key_path: Path) -> KeyPair | None:
    if not (cert_path.exists() and key_path.exists()):
        return None
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        return None
    # Regenerate certificates about to expire rather than fail TLS later.
    if cert.not_valid_after_utc < datetime.now(UTC) + timedelta(days=1):
        return None
    return KeyPair(cert, key, cert_path, key_path)


def ensure_ca(state_dir: Path) -> KeyPair:
    cert_path, key_path = state_dir / CA_FILE, state_dir / CA_KEY_FILE
    existing = _load(cert_path, key_path)
    if existing:
        return existing
    key = _new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "m365sim local CA")])
    now = datetime.now(UTC)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return KeyPair(cert, key, cert_path, key_path)


def issue_server_cert(
    ca: KeyPair, cert_path: Path, key_path: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")
) -> KeyPair:
    """A TLS server certificate signed by the sim CA (also usable for test receivers)."""
    key = _new_key()
    now = datetime.now(UTC)
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
        .issuer_name(ca.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=825))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=True,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
        .sign(ca.key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return KeyPair(cert, key, cert_path, key_path)


def ensure_server_cert(state_dir: Path, ca: KeyPair) -> KeyPair:
    cert_path, key_path = state_dir / SERVER_CERT_FILE, state_dir / SERVER_KEY_FILE
    existing = _load(cert_path, key_path)
    if existing and existing.cert.issuer == ca.cert.subject:
        try:
            existing.cert.verify_directly_issued_by(ca.cert)
            return existing
        except (ValueError, TypeError, InvalidSignature):  # signed by an older CA: reissue
            pass
    return issue_server_cert(ca, cert_path, key_path)


def self_signed(common_name: str, cert_path: Path, key_path: Path, days: int = 730) -> KeyPair:
    """Self-signed certificate: the token-signing key and app client certificates."""
    existing = _load(cert_path, key_path)
    if existing:
        return existing
    key = _new_key()
    now = datetime.now(UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM))
    return KeyPair(cert, key, cert_path, key_path)


def ensure_signing_key(state_dir: Path) -> KeyPair:
    return self_signed("m365sim token signing", state_dir / SIGNING_CERT_FILE, state_dir / SIGNING_KEY_FILE)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64_equal(left: str, right: str) -> bool:
    def decode(value: str) -> bytes | None:
        text = value.strip().replace("+", "-").replace("/", "_").rstrip("=")
        try:
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (ValueError, TypeError):
            return None

    first = decode(left)
    return first is not None and first == decode(right)


def thumbprint_sha1(cert: x509.Certificate) -> str:
    """Hex SHA-1 thumbprint as the Azure portal shows it (upper case)."""
    return cert.fingerprint(hashes.SHA1()).hex().upper()  # noqa: S303 - x5t is SHA-1 by spec


def thumbprint_sha256(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex().upper()


def x5t(cert: x509.Certificate) -> str:
    return b64url(cert.fingerprint(hashes.SHA1()))  # noqa: S303 - x5t is SHA-1 by spec


def x5t_s256(cert: x509.Certificate) -> str:
    return b64url(cert.fingerprint(hashes.SHA256()))
