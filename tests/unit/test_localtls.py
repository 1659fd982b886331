"""The secure local broker's TLS material: a CA, a broker certificate for 127.0.0.1 signed by
it in a PKCS#12 keystore, owner-only secrets, and nothing regenerated on the next start."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import pkcs12

from rarematch.localtls import ensure_broker_tls, ensure_secret


def test_the_broker_certificate_names_loopback_and_is_signed_by_the_ca(tmp_path: Path) -> None:
    tls = ensure_broker_tls(tmp_path / "tls", "127.0.0.1")
    ca = x509.load_pem_x509_certificate(tls.ca_file.read_bytes())
    key, cert, chain = pkcs12.load_key_and_certificates(
        tls.keystore_file.read_bytes(), tls.key_password.encode()
    )
    assert key is not None
    assert cert is not None
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in names.get_values_for_type(x509.IPAddress)
    assert "localhost" in names.get_values_for_type(x509.DNSName)
    assert [c.subject for c in chain] == [ca.subject]
    assert oct(tls.keystore_file.stat().st_mode & 0o777) == "0o600"


def test_tls_material_and_secrets_are_kept_across_starts(tmp_path: Path) -> None:
    first = ensure_broker_tls(tmp_path, "127.0.0.1")
    ca = first.ca_file.read_bytes()
    again = ensure_broker_tls(tmp_path, "127.0.0.1")
    assert again.ca_file.read_bytes() == ca, "clients holding the CA file keep working"
    assert again.key_password == first.key_password
    secret = ensure_secret(tmp_path / "secrets" / "user.password")
    assert ensure_secret(tmp_path / "secrets" / "user.password") == secret
    assert len(secret) >= 32
    assert oct((tmp_path / "secrets" / "user.password").stat().st_mode & 0o777) == "0o600"


def test_a_plaintext_data_dir_is_not_started_secure_or_the_other_way_round(tmp_path: Path) -> None:
    from rarematch.localkafka import BrokerConfig, BrokerError, _check_listener

    def config(*, secure: bool) -> BrokerConfig:
        return BrokerConfig(port=19000, cache_dir=tmp_path, state_dir=tmp_path, secure=secure)

    _check_listener(config(secure=True))  # nothing formatted yet
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "meta.properties").write_text("cluster.id=x\n")
    _check_listener(config(secure=False))
    with pytest.raises(BrokerError, match="formatted without --secure; run `up` without"):
        _check_listener(config(secure=True))
    (tmp_path / "listener").write_text("SASL_SSL\n")
    _check_listener(config(secure=True))
    with pytest.raises(BrokerError, match="formatted with --secure"):
        _check_listener(config(secure=False))
