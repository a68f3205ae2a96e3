#!/usr/bin/python3
"""Writes the certificates of basin's TLS tests into a directory, fresh for each run.

No private key is committed: every test run makes its own (P-256, fast). Usage:

    make_test_certs.py OUT_DIR

writes, as PEM:

    ca.pem                            the CA of the server and of the good client certificates
    server.pem, server.key            the server, for 127.0.0.1, ::1, localhost and basin.test
    client.pem, client.key            a client certificate from ca.pem
    expired_client.pem/.key           a client certificate from ca.pem that expired yesterday
    other_ca.pem                      another CA, which the server does not trust
    other_client.pem/.key             a client certificate from other_ca.pem

Needs python3-cryptography (Debian's, as scripts/setup installs it).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import sys

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _ca(common_name: str):
    key = _key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 30 * DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _leaf(ca, common_name: str, usage, sans=None, not_before=NOW - DAY, not_after=NOW + 30 * DAY):
    ca_cert, ca_key = ca
    key = _key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _write(out_dir: str, name: str, cert, key=None) -> None:
    with open(os.path.join(out_dir, f"{name}.pem"), "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    if key is not None:
        path = os.path.join(out_dir, f"{name}.key")
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))


def main(out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    ca = _ca("basin test CA")
    other_ca = _ca("basin test other CA")
    server_sans = [
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
        x509.DNSName("localhost"),
        x509.DNSName("basin.test"),
    ]
    client = ExtendedKeyUsageOID.CLIENT_AUTH
    _write(out_dir, "ca", ca[0])
    _write(out_dir, "other_ca", other_ca[0])
    _write(out_dir, "server", *_leaf(ca, "basin-server", ExtendedKeyUsageOID.SERVER_AUTH, server_sans))
    _write(out_dir, "client", *_leaf(ca, "alice", client))
    _write(out_dir, "expired_client", *_leaf(ca, "alice", client, not_before=NOW - 30 * DAY, not_after=NOW - DAY))
    _write(out_dir, "other_client", *_leaf(other_ca, "mallory", client))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: {sys.argv[0]} OUT_DIR")
    main(sys.argv[1])
