"""A throw-away certificate authority and certificates, made by `openssl` in a tmp dir."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Certs:
    ca: Path  # the CA certificate
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def make_ca(dir: Path, name: str = "rtask-test-ca") -> Certs:
    """A CA and, signed by it, a server certificate for 127.0.0.1/localhost and a client one."""
    dir.mkdir(parents=True, exist_ok=True)
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-keyout", "ca.key", "-out", "ca.crt", "-subj", f"/CN={name}",
        cwd=dir,
    )  # fmt: skip
    (dir / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for who in ("server", "client"):
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{who}.key",
            "-out", f"{who}.csr", "-subj", f"/CN={who}",
            cwd=dir,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{who}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{who}.crt", "-extfile", "san.cnf",
            cwd=dir,
        )  # fmt: skip
    return Certs(
        dir / "ca.crt",
        dir / "server.crt",
        dir / "server.key",
        dir / "client.crt",
        dir / "client.key",
    )
