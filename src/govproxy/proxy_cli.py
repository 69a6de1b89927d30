"""``govproxy run``, ``govproxy ca`` and ``govproxy env``: starting the proxy and pointing apps at it."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path

from govproxy.config import ConfigError, Settings, load_settings
from govproxy.providers.registry import base_url_authority


def _confdir(args: argparse.Namespace, settings: Settings) -> Path:
    return Path(os.path.expanduser(getattr(args, "confdir", None) or settings.proxy.confdir))


def _load(args: argparse.Namespace) -> Settings | None:
    try:
        return load_settings(getattr(args, "config", None))
    except ConfigError as exc:
        print(f"govproxy: configuration error:\n{exc}", file=sys.stderr)
        return None


def ensure_ca(confdir: Path) -> Path:
    """Create mitmproxy's CA in ``confdir`` if missing; return the public certificate path."""
    from mitmproxy.certs import CertStore

    confdir.mkdir(parents=True, exist_ok=True, mode=0o700)
    CertStore.from_store(str(confdir), "mitmproxy", 2048)
    key = confdir / "mitmproxy-ca.pem"
    if key.exists():
        key.chmod(0o600)  # holds the CA private key
    return confdir / "mitmproxy-ca-cert.pem"


def mitmdump_args(args: argparse.Namespace, settings: Settings, confdir: Path) -> list[str]:
    host = args.listen_host or settings.proxy.listen_host
    port = settings.proxy.listen_port if args.listen_port is None else args.listen_port
    entry = Path(__file__).with_name("mitm_entry.py")
    argv = [
        "--set", f"confdir={confdir}",
        "--set", "connection_strategy=lazy",
        "--set", "flow_detail=0",  # never print URLs or headers (Gemini keys travel in ?key=)
        "--set", f"listen_host={host}",
        "--mode", f"regular@{host}:{port}",
        "-s", str(entry),
    ]
    if args.config:
        argv += ["--set", f"govproxy_config={Path(args.config).resolve()}"]
    gateways = [(g.provider, g.listen_host, g.listen_port) for g in settings.gateways]
    for spec in args.gateway or []:
        name, _, gport = spec.partition("=")
        ghost, _, p = gport.rpartition(":")
        gateways.append((name, ghost or "127.0.0.1", int(p)))
    for name, ghost, gport in gateways:
        provider = settings.providers.get(name)
        if provider is None or not provider.base_url:
            raise ConfigError(f"gateway: provider {name!r} is unknown or has no base_url")
        scheme, phost, pport, _ = base_url_authority(provider.base_url)
        argv += ["--mode", f"reverse:{scheme}://{phost}:{pport}@{ghost}:{gport}"]
    for item in args.set or []:
        argv += ["--set", item]
    return argv


def cmd_run(args: argparse.Namespace) -> int:
    settings = _load(args)
    if settings is None:
        return 2
    confdir = _confdir(args, settings)
    ensure_ca(confdir)
    try:
        argv = mitmdump_args(args, settings, confdir)
    except (ConfigError, ValueError) as exc:
        print(f"govproxy: {exc}", file=sys.stderr)
        return 2
    from govproxy.master import run_governed

    # Config is re-read by the addon through the govproxy_config option, so that
    # `mitmdump -s addons/govproxy.py` and `govproxy run` govern identically; `run` only
    # leaves out the mitmproxy addons that would bypass or store traffic (govproxy/master.py).
    run_governed(argv)
    return 0


def cmd_ca(args: argparse.Namespace) -> int:
    settings = _load(args)
    if settings is None:
        return 2
    print(ensure_ca(_confdir(args, settings)))
    return 0


def _public_roots(explicit: str | None) -> bytes:
    if explicit:
        return Path(explicit).read_bytes()
    try:
        import certifi

        return Path(certifi.where()).read_bytes()
    except ImportError:  # pragma: no cover - certifi is a dependency
        return Path("/etc/ssl/certs/ca-certificates.crt").read_bytes()


def write_bundle(confdir: Path, roots: bytes, ca_cert: Path) -> Path:
    """Public roots + govproxy's CA, for variables that *replace* a client's trust store."""
    bundle = confdir / "ca-bundle.pem"
    tmp = bundle.with_suffix(".tmp")
    data = roots.rstrip(b"\n") + b"\n\n# govproxy CA\n" + ca_cert.read_bytes()
    tmp.write_bytes(data)
    os.replace(tmp, bundle)
    return bundle


def cmd_env(args: argparse.Namespace) -> int:
    settings = _load(args)
    if settings is None:
        return 2
    confdir = _confdir(args, settings)
    ca = ensure_ca(confdir)
    try:
        bundle = write_bundle(confdir, _public_roots(args.roots), ca)
    except OSError as exc:
        print(f"govproxy: cannot read public roots: {exc}", file=sys.stderr)
        return 2
    host = args.proxy_host or settings.proxy.listen_host
    port = args.proxy_port or settings.proxy.listen_port
    cred = ""
    if args.tenant:
        from urllib.parse import quote

        token = args.token if args.token is not None else (settings.tenants.get(args.tenant).token if args.tenant in settings.tenants else None)
        cred = quote(args.tenant, safe="") + (":" + quote(token, safe="") if token else "") + "@"
    url = f"http://{cred}{host}:{port}"
    values = {
        "HTTPS_PROXY": url,
        "https_proxy": url,
        "HTTP_PROXY": url,
        "http_proxy": url,
        "SSL_CERT_FILE": str(bundle),
        "REQUESTS_CA_BUNDLE": str(bundle),
        "CURL_CA_BUNDLE": str(bundle),
        "NODE_EXTRA_CA_CERTS": str(ca),
    }
    for k, v in values.items():
        print(f"export {k}={shlex.quote(v)}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    def common(p: argparse.ArgumentParser) -> None:
        p.add_argument("--config", help="YAML config (default: ./govproxy.yaml if present, else built-in defaults)")
        p.add_argument("--confdir", help="where mitmproxy's CA lives (default ~/.govproxy)")

    run = sub.add_parser("run", help="start the governance proxy")
    common(run)
    run.add_argument("--listen-host", default=None)
    run.add_argument("--listen-port", type=int, default=None)
    run.add_argument("--gateway", action="append", metavar="PROVIDER=[HOST:]PORT", help="also listen as a plain reverse-proxy gateway for PROVIDER")
    run.add_argument("--set", action="append", metavar="NAME=VALUE", help="a mitmproxy option, passed through (repeatable)")
    run.set_defaults(func=cmd_run)

    ca = sub.add_parser("ca", help="print the CA certificate path (creating the CA if missing)")
    common(ca)
    ca.set_defaults(func=cmd_ca)

    env = sub.add_parser("env", help="print shell exports that send an app through the proxy: eval \"$(govproxy env)\"")
    common(env)
    env.add_argument("--proxy-host")
    env.add_argument("--proxy-port", type=int)
    env.add_argument("--tenant", help="put proxy credentials for this tenant into the proxy URL")
    env.add_argument("--token", help="the tenant's token (default: from the config)")
    env.add_argument("--roots", help="PEM file of public roots to include (default: certifi's bundle)")
    env.set_defaults(func=cmd_env)
