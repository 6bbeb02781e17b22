"""Throw-away certificates for TLS tests, made with the ``openssl`` command line.

A CA, a server certificate for 127.0.0.1 and localhost, and a client
certificate, all signed by that CA; plus a second CA with a client certificate
of its own, which a server trusting only the first must refuse. EC P-256 keys
keep generation to a fraction of a second.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

_DAYS = "2"
_TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    # Signed by another CA that the server does not trust.
    stranger_cert: Path
    stranger_key: Path


def _openssl(*args: str | Path) -> None:
    subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True, timeout=_TIMEOUT_SECONDS)


def _key_args(key: Path) -> list[str | Path]:
    return ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key]


def _ca(directory: Path, name: str) -> tuple[Path, Path]:
    cert, key = directory / f"{name}.crt", directory / f"{name}.key"
    _openssl(
        "req", "-x509", *_key_args(key), "-out", cert, "-days", _DAYS, "-subj", f"/CN={name}",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )
    return cert, key


def _leaf(directory: Path, name: str, ca: tuple[Path, Path], extensions: str) -> tuple[Path, Path]:
    cert, key, csr, ext = (directory / f"{name}.{suffix}" for suffix in ("crt", "key", "csr", "ext"))
    _openssl("req", *_key_args(key), "-out", csr, "-subj", f"/CN={name}")
    ext.write_text(f"basicConstraints=CA:FALSE\n{extensions}\n", encoding="ascii")
    _openssl(
        "x509", "-req", "-in", csr, "-CA", ca[0], "-CAkey", ca[1], "-CAcreateserial",
        "-out", cert, "-days", _DAYS, "-extfile", ext,
    )
    return cert, key


def make_pki(directory: Path) -> Pki:
    directory.mkdir(parents=True, exist_ok=True)
    ca = _ca(directory, "nigran-test-ca")
    server = _leaf(directory, "server", ca, "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth")
    client = _leaf(directory, "client", ca, "extendedKeyUsage=clientAuth")
    stranger = _leaf(directory, "stranger", _ca(directory, "other-ca"), "extendedKeyUsage=clientAuth")
    return Pki(ca[0], *server, *client, *stranger)
