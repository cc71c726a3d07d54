"""TLS for abng-api: the configured pair, or a self-signed pair made once and kept.

The self-signed pair lives in the config dir (``api-cert.pem``, ``api-key.pem`` with mode
0600) and is reused on later starts.  The server context refuses anything older than TLS 1.2.
"""

from __future__ import annotations

import datetime
import ipaddress
import logging
import os
import socket
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

log = logging.getLogger("abng.api.tls")

CERT_NAME = "api-cert.pem"
KEY_NAME = "api-key.pem"


def _write_private(path: Path, data: bytes, mode: int) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def generate_self_signed(cert_path: Path, key_path: Path, listen: str) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    hostname = socket.gethostname()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"abng-api {hostname}")])
    alt: list[x509.GeneralName] = [x509.DNSName("localhost"), x509.DNSName(hostname)]
    for addr in {"127.0.0.1", "::1", listen}:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(addr)))
        except ValueError:
            continue
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write_private(key_path, key_pem, 0o600)
    _write_private(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def ensure_pair(
    config_dir: Path, cert: Path | None, key: Path | None, listen: str
) -> tuple[Path, Path, bool]:
    """Return (cert, key, generated): the configured pair, else the kept self-signed one."""
    if cert is not None and key is not None:
        for p in (cert, key):
            if not p.is_file():
                raise FileNotFoundError(f"TLS file {p} does not exist")
        return cert, key, False
    cert_path, key_path = config_dir / CERT_NAME, config_dir / KEY_NAME
    if cert_path.is_file() and key_path.is_file():
        return cert_path, key_path, False
    config_dir.mkdir(parents=True, exist_ok=True)
    generate_self_signed(cert_path, key_path, listen)
    log.warning("generated a self-signed TLS certificate %s (set api.tls_cert/api.tls_key)", cert_path)
    return cert_path, key_path, True


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.load_cert_chain(str(cert), str(key))
    ctx.set_ciphers("ECDHE+AESGCM:ECDHE+CHACHA20:DHE+AESGCM:!aNULL:!MD5:!DSS")
    return ctx
