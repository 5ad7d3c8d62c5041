"""Who may use the grading cluster: the address guard and the TLS settings of `grader grade --cluster`.

A Dask client can run any function on every worker (that is what a task is), and a scheduler on plain
`tcp://` authenticates no one and encrypts nothing. So:

- `tls://HOST:PORT` (mutual TLS: the course's CA, a client certificate and key) is the way to reach a
  scheduler anywhere; the client requires encryption (`distributed.Security(require_encryption=True)`).
- plain `tcp://` (and the other unencrypted protocols) is allowed only to a loopback address, decided from
  the address as written — an IP literal in 127.0.0.0/8 or ::1, or `localhost` — so that nothing is
  resolved and no packet leaves for an address that is refused; `--insecure-cluster` overrides it, with a
  warning on every run and in the class report (batch/outputs.py, from the workers' addresses).

This module imports `distributed` only inside `make_security`; the rest is plain data and stdlib.
"""

from __future__ import annotations

import ipaddress
import os
import shlex
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from grader.errors import UsageError
from grader.i18n import _

PLAINTEXT = {"tcp", "ws", "ucx"}  # protocols Dask speaks without encryption
ENCRYPTED = {"tls", "wss"}
LOCAL = {"inproc"}  # within one process: nothing on a network
LOOPBACK_NAMES = {"localhost", "localhost.", "ip6-localhost", "ip6-loopback"}


def split_address(address: str) -> tuple[str, str, str]:
    """(protocol, host, port) of a Dask address as written: `tls://10.0.0.5:8786`, `tcp://[::1]:8786`,
    `10.0.0.5:8786` (Dask's default protocol is tcp). Nothing is resolved."""
    address = address.strip()
    protocol, sep, rest = address.partition("://")
    if not sep:
        protocol, rest = "tcp", address
    protocol = protocol.lower()
    rest = rest.split("/", 1)[0]
    if rest.startswith("["):  # [v6]:port
        host, _sep, tail = rest[1:].partition("]")
        port = tail[1:] if tail.startswith(":") else ""
    elif rest.count(":") == 1:
        host, port = rest.split(":")
    else:  # a bare v6 literal, or a host without a port
        host, port = rest, ""
    return protocol, host, port


def is_loopback_host(host: str) -> bool:
    """A loopback address written as such: 127.0.0.0/8, ::1 (also IPv4-mapped), or the name localhost."""
    host = host.strip().lower()
    if host in LOOPBACK_NAMES:
        return True
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False  # any other name: deciding would need a lookup, which may itself leave the machine
    mapped = getattr(ip, "ipv4_mapped", None)
    return bool(ip.is_loopback or (mapped is not None and mapped.is_loopback))


def exposed(address: str) -> bool:
    """Unencrypted and unauthenticated, and reachable from other machines (so: anyone on the network)."""
    protocol, host, _port = split_address(address)
    if protocol in ENCRYPTED or protocol in LOCAL:
        return False
    return not is_loopback_host(host)


def tls_recipe(host: str = "SCHEDULER", port: str = "8786", folder: str = "certs") -> str:
    return _("make the course's certificates with `grader cluster certs {folder}`, start the scheduler and the "
             "workers with the commands it prints, then grade with `grader grade --cluster tls://{host}:{port} "
             "--tls-ca-file {folder}/ca.pem --tls-cert {folder}/client.pem --tls-key {folder}/client-key.pem` "
             "(docs/batch.md)").format(folder=folder, host=host, port=port or "8786")


def check_address(address: str, *, insecure: bool = False) -> str | None:
    """Refuse (UsageError, exit 2) an exposed address unless `insecure`; then return the warning to show.
    Decided from the text alone: call it before anything connects."""
    protocol, host, port = split_address(address)
    if protocol not in PLAINTEXT | ENCRYPTED | LOCAL:
        raise UsageError(_("--cluster {address}: unknown protocol {protocol!r}; use tls://HOST:PORT (or tcp:// "
                           "on this machine only)").format(address=address, protocol=protocol))
    if not exposed(address):
        return None
    if not insecure:
        raise UsageError(_(
            "--cluster {address} refused: a Dask scheduler on plain {protocol}:// authenticates no one and "
            "encrypts nothing, and whoever can reach it can run code on every worker (as root for tier A), "
            "read every submission and change grades in flight. Plain {protocol}:// is allowed to a loopback "
            "address only (127.0.0.1, ::1, localhost). Use TLS instead: {recipe}. (--insecure-cluster "
            "overrides this, on a network only you can reach.)").format(
                address=address, protocol=protocol, recipe=tls_recipe(host, port)))
    return insecure_warning(address)


def insecure_warning(address: str) -> str:
    return _("--insecure-cluster: grading on {address} over plain unauthenticated, unencrypted {protocol}://; "
             "anyone who can reach it can run code on the workers and change grades (use tls://, "
             "docs/batch.md)").format(address=address, protocol=split_address(address)[0])


def insecure_workers(workers: Iterable[str]) -> list[str]:
    """The workers (addresses as the scheduler knows them) that were reached in the clear from the network:
    what the class report warns about, whatever command line graded the runs."""
    return sorted({w for w in workers if "://" in w and exposed(w)})


# --- TLS settings ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class TLSFiles:
    """The client's side of the course's mutual TLS: the CA that signed every endpoint, this client's
    certificate and key (PEM files)."""

    ca_file: Path
    cert: Path
    key: Path | None = None  # None: the key is appended to the certificate file

    def check(self) -> TLSFiles:
        for flag, path in (("--tls-ca-file", self.ca_file), ("--tls-cert", self.cert), ("--tls-key", self.key)):
            if path is not None and not path.is_file():
                raise UsageError(_("{flag} {path}: no such file (make the course's certificates with `grader "
                                   "cluster certs DIR`; docs/batch.md)").format(flag=flag, path=path))
            if path is not None and not os.access(path, os.R_OK):
                raise UsageError(_("{flag} {path}: not readable by this user").format(flag=flag, path=path))
        return self


def tls_files(address: str, *, ca_file: str | None = None, cert: str | None = None, key: str | None = None,
              config: dict | None = None, config_root: Path | None = None) -> TLSFiles | None:
    """The TLS files to use for `address`: the command line's, else grader.yaml's `cluster:` keys (relative to
    its folder), else None (Dask's own configuration, `distributed.comm.tls.*`, is then read by
    `make_security`). Options given on the command line for a plain address are an error."""
    protocol = split_address(address)[0]
    given = {"--tls-ca-file": ca_file, "--tls-cert": cert, "--tls-key": key}
    if protocol not in ENCRYPTED:
        named = [k for k, v in given.items() if v]
        if named:
            raise UsageError(_("{flags} given, but --cluster {address} is not a tls:// address: use "
                               "--cluster tls://HOST:PORT").format(flags=", ".join(named), address=address))
        return None
    if ca_file or cert or key:
        if not (ca_file and cert):
            raise UsageError(_("--tls-ca-file and --tls-cert go together (and --tls-key, unless the key is in the "
                               "certificate file): {recipe}").format(recipe=tls_recipe()))
        return TLSFiles(Path(ca_file), Path(cert), Path(key) if key else None).check()
    config = config or {}
    if config.get("tls_ca_file") or config.get("tls_cert"):
        root = config_root or Path.cwd()

        def at(value: str) -> Path:
            return root / Path(value).expanduser()

        if not (config.get("tls_ca_file") and config.get("tls_cert")):
            raise UsageError(_("grader.yaml: cluster: tls_ca_file and tls_cert go together (and tls_key, unless "
                               "the key is in the certificate file)"))
        key_file = config.get("tls_key")
        return TLSFiles(at(config["tls_ca_file"]), at(config["tls_cert"]), at(key_file) if key_file else None).check()
    return None


def make_security(address: str, tls: TLSFiles | None):  # -> distributed.Security | None
    """The `distributed.Security` for a client of `address`: None for a plain address (already checked by
    `check_address`); for tls://, mutual TLS with encryption required, from `tls` or Dask's configuration."""
    if split_address(address)[0] not in ENCRYPTED:
        return None
    from distributed.security import Security

    if tls is not None:
        return Security(tls_ca_file=str(tls.ca_file), tls_client_cert=str(tls.cert),
                        tls_client_key=str(tls.key) if tls.key else None, require_encryption=True)
    security = Security(require_encryption=True)  # distributed.comm.tls.{ca-file,client.cert,client.key}
    # Security sets its fields with setattr from its kwargs and Dask's configuration: mypy cannot see them
    if not (security.tls_ca_file and security.tls_client_cert):  # type: ignore[attr-defined]
        raise UsageError(_("--cluster {address} needs the course's certificates: --tls-ca-file, --tls-cert and "
                           "--tls-key (or tls_ca_file, tls_cert, tls_key under cluster: in grader.yaml); "
                           "{recipe}").format(address=address, recipe=tls_recipe(*split_address(address)[1:])))
    return security


def command_line(argv: list[str]) -> str:
    return " ".join(shlex.quote(a) for a in argv)
