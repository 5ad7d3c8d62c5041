"""The course's own certificate authority for a grading cluster (`grader cluster certs DIR`).

One CA per course signs a certificate for each role — the scheduler, the workers, the grading client —
so that every Dask connection of the cluster is mutual TLS between holders of the course's certificates
(distributed checks the chain, not host names: "a dedicated CA for the cluster"). Keys are EC P-256, each
written readable by its owner only (created 0600, never wider even for an instant). The CA's key
(`ca-key.pem`) is needed only to make more certificates: it stays on the instructor's machine.

Made with `cryptography` (pip install 'grader[cluster]').
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import socket
from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError
from grader.i18n import _

ROLES = ("scheduler", "worker", "client")
FILES = ("ca.pem", "ca-key.pem", *(f"{r}{s}" for r in ROLES for s in (".pem", "-key.pem")))


@dataclass(frozen=True)
class CourseCerts:
    folder: Path

    def cert(self, role: str) -> Path:
        return self.folder / f"{role}.pem"

    def key(self, role: str) -> Path:
        return self.folder / f"{role}-key.pem"

    @property
    def ca(self) -> Path:
        return self.folder / "ca.pem"

    @property
    def ca_key(self) -> Path:
        return self.folder / "ca-key.pem"


def _crypto():
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
    except ImportError:
        raise UsageError(_("making certificates needs the `cryptography` package: pip install "
                           "'grader[cluster]'")) from None
    return x509, hashes, serialization, ec, ExtendedKeyUsageOID, NameOID


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)  # never readable by others, not even briefly
    try:
        os.fchmod(fd, mode)  # whatever the umask
        os.write(fd, data)
    finally:
        os.close(fd)


def _san(hosts: list[str]):
    x509 = _crypto()[0]
    names = []
    for h in dict.fromkeys(hosts):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(h)))
        except ValueError:
            names.append(x509.DNSName(h))
    return x509.SubjectAlternativeName(names)


def make_course_certs(folder: Path, *, course: str = "course", scheduler_hosts: list[str] | None = None,
                      days: int = 400, now: dt.datetime | None = None) -> CourseCerts:
    """Write ca.pem, ca-key.pem and <role>.pem + <role>-key.pem for scheduler, worker and client into folder
    (created 0700 if absent). Refuses to overwrite any of them."""
    x509, hashes, serialization, ec, eku, NameOID = _crypto()
    if days < 1:
        raise UsageError(_("--days must be at least 1"))
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    present = [f for f in FILES if (folder / f).exists()]
    if present:
        raise UsageError(_("{folder} already holds {files}: certificates are never overwritten (a new CA would "
                           "lock out every worker started with the old one); choose another folder or remove "
                           "them first").format(folder=folder, files=", ".join(present)))
    now = now or dt.datetime.now(dt.timezone.utc)
    start, end = now - dt.timedelta(minutes=5), now + dt.timedelta(days=days)
    hosts = [*(scheduler_hosts or []), "localhost", "127.0.0.1", "::1", socket.gethostname()]

    def pem_key(key) -> bytes:
        return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())

    def name(cn: str):
        return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, course[:64] or "course"),
                          x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("grader course CA")
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(start).not_valid_after(end)
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=False, content_commitment=False, key_encipherment=False,
                                       data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                       crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(ca_ski, critical=False)
          .sign(ca_key, hashes.SHA256()))
    certs = CourseCerts(folder)
    _write(certs.ca_key, pem_key(ca_key), 0o600)
    _write(certs.ca, ca.public_bytes(serialization.Encoding.PEM), 0o644)
    for role in ROLES:
        key = ec.generate_private_key(ec.SECP256R1())
        builder = (x509.CertificateBuilder().subject_name(name(f"grader {role}")).issuer_name(ca_name)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(start).not_valid_after(end)
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                                key_encipherment=False, data_encipherment=False, key_agreement=True,
                                                key_cert_sign=False, crl_sign=False, encipher_only=False,
                                                decipher_only=False), critical=True)
                   # every Dask endpoint both listens and connects (workers talk to each other)
                   .add_extension(x509.ExtendedKeyUsage([eku.SERVER_AUTH, eku.CLIENT_AUTH]), critical=False)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski),
                                  critical=False))
        if role != "client":
            builder = builder.add_extension(_san(hosts), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        _write(certs.key(role), pem_key(key), 0o600)
        _write(certs.cert(role), cert.public_bytes(serialization.Encoding.PEM), 0o644)
    return certs
