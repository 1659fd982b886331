"""A throw-away CA and broker certificate for `rarematch kafka up --secure` (cryptography).

The broker reads a PKCS#12 keystore (its key and certificate chain; Java 17 cannot decrypt a
PBES2-encrypted PEM key, and Kafka refuses an unencrypted one) and a PEM truststore (the CA);
clients trust the CA file.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["BrokerTls", "ensure_broker_tls", "ensure_secret"]

_VALID_DAYS = 825


@dataclass(frozen=True)
class BrokerTls:
    ca_file: Path
    """PEM certificate of the CA: the clients' RAREMATCH_KAFKA_CA_FILE, the broker's truststore."""
    keystore_file: Path
    """PKCS#12: the broker's private key with its certificate and the CA's."""
    key_password: str
    """Of the keystore and of the key in it."""


def ensure_secret(path: Path) -> str:
    """The secret in `path`, made (random, owner-only) if the file does not exist yet."""
    if path.is_file() and (existing := path.read_text(encoding="utf-8").strip()):
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(24)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def ensure_broker_tls(directory: Path, host: str) -> BrokerTls:
    """The CA and broker certificate in `directory`, generated on first use and then kept,
    so clients configured with the CA file keep working across restarts."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_file = directory / "ca.pem"
    keystore_file = directory / "broker-keystore.p12"
    password = ensure_secret(directory / "broker-key.password")
    if not (ca_file.is_file() and keystore_file.is_file()):
        ca_pem, keystore_pem = _generate(host, password.encode())
        _write_private(keystore_file, keystore_pem)
        ca_file.write_bytes(ca_pem)
    return BrokerTls(ca_file=ca_file, keystore_file=keystore_file, key_password=password)


def _generate(host: str, password: bytes) -> tuple[bytes, bytes]:
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "rarematch local Kafka CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    broker_key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    try:
        names.append(x509.IPAddress(ipaddress.ip_address(host)))
    except ValueError:
        names.append(x509.DNSName(host))
    broker_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
        .issuer_name(ca_name)
        .public_key(broker_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=_VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    keystore = pkcs12.serialize_key_and_certificates(
        b"broker",
        broker_key,
        broker_cert,
        [ca_cert],
        serialization.BestAvailableEncryption(password),
    )
    return ca_cert.public_bytes(serialization.Encoding.PEM), keystore


def _write_private(path: Path, content: bytes) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(content)
