"""Throw-away test PKI for the stand-in server.

The stand-in must be indistinguishable from the real providers, including over TLS: a
client (or govproxy's upstream side) that resolves ``api.openai.com`` to 127.0.0.1 must
see a certificate valid for that name. So we mint a private CA and one server
certificate whose SANs cover loopback and every built-in provider host. Nothing here is
meant for production; keys are unencrypted and short-lived.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

LOOPBACK_NAMES: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class CertBundle:
    """Paths of a test CA and the server certificate it signed (PEM files)."""

    ca_cert: Path
    server_cert: Path
    server_key: Path

    @classmethod
    def from_dir(cls, directory: str | Path) -> CertBundle:
        """Open a bundle written earlier by :func:`make_test_certs`; missing files are an error."""
        d = Path(directory)
        bundle = cls(d / "ca.pem", d / "server.pem", d / "server.key")
        for p in (bundle.ca_cert, bundle.server_cert, bundle.server_key):
            if not p.is_file():
                raise FileNotFoundError(f"certificate bundle incomplete: {p} is missing")
        return bundle

    def server_context(self, alpn: tuple[str, ...] = ("http/1.1",)) -> ssl.SSLContext:
        """A server-side TLS context presenting the server certificate."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(str(self.server_cert), str(self.server_key))
        ctx.set_alpn_protocols(list(alpn))
        return ctx

    def client_context(self) -> ssl.SSLContext:
        """A client-side context trusting only the test CA (for httpx ``verify=`` and SDK clients)."""
        return ssl.create_default_context(cafile=str(self.ca_cert))


def provider_hostnames() -> list[str]:
    """Every host pattern of the built-in providers (``*.openai.azure.com`` included as wildcard)."""
    from govproxy.config import _default_providers

    names: list[str] = []
    for provider in _default_providers().values():
        names.extend(provider.hosts)
    return names


def _san_entries(names: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    seen: set[str] = set()
    for name in names:
        if not name or name in seen:
            continue
        seen.add(name)
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _write_private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def make_test_certs(
    directory: str | Path,
    extra_names: list[str] | tuple[str, ...] = (),
    *,
    days: int = 30,
) -> CertBundle:
    """Create a fresh CA and a server certificate in ``directory``; return their paths.

    Files written: ``ca.pem`` (CA certificate), ``server.pem`` (server certificate followed
    by the CA, so clients that need the chain get it), ``server.key``. SANs: loopback,
    all built-in provider hosts, and ``extra_names`` (DNS names or IP literals).
    """
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    now = _dt.datetime.now(_dt.UTC)
    not_before = now - _dt.timedelta(hours=1)
    not_after = now + _dt.timedelta(days=days)

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "govproxy stand-in"),
            x509.NameAttribute(NameOID.COMMON_NAME, "govproxy stand-in test CA"),
        ]
    )
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
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
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    server_key = ec.generate_private_key(ec.SECP256R1())
    names = [*LOOPBACK_NAMES, *provider_hostnames(), *extra_names]
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName(_san_entries(names)), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )

    pem = serialization.Encoding.PEM
    bundle = CertBundle(d / "ca.pem", d / "server.pem", d / "server.key")
    bundle.ca_cert.write_bytes(ca_cert.public_bytes(pem))
    bundle.server_cert.write_bytes(server_cert.public_bytes(pem) + ca_cert.public_bytes(pem))
    _write_private(
        bundle.server_key,
        server_key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )
    return bundle


def ca_bundle_with_public_roots(bundle: CertBundle, path: str | Path) -> Path:
    """Write certifi's public roots followed by the test CA to ``path``.

    ``SSL_CERT_FILE`` *replaces* the trust store of httpx (and so of the OpenAI and
    Anthropic SDKs); a client given only the test CA could reach nothing else. This bundle
    keeps both.
    """
    import certifi

    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    roots = Path(certifi.where()).read_bytes()
    out.write_bytes(roots.rstrip(b"\n") + b"\n" + bundle.ca_cert.read_bytes())
    return out
