"""Helpers shared by the end-to-end tests (plain functions; fixtures live in conftest.py)."""

from __future__ import annotations

import copy
import subprocess
import sys
from pathlib import Path
from typing import Any

from govproxy.config import _default_providers
from govproxy.launcher import ProxyProcess
from govproxy.standin import CertBundle, StandinServer


def base_config(cloud: StandinServer, local: StandinServer) -> dict[str, Any]:
    resolve: dict[str, str] = {}
    for cfg in _default_providers().values():
        for host in cfg.hosts:
            if not host.startswith("*."):
                resolve[f"{host}:443"] = f"127.0.0.1:{cloud.port}"
    resolve["myres.openai.azure.com:443"] = f"127.0.0.1:{cloud.port}"
    return {
        "proxy": {"resolve": resolve},
        "state": {"path": "state.sqlite3"},  # relative to the proxy's working directory
        "providers": {"local": {"base_url": f"{local.url}/v1"}},
    }


def deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(a)
    for k, v in b.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = deep_merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def trust_bundle(proxy: ProxyProcess, certs: CertBundle) -> Path:
    """What `govproxy env` gives an app: 'public roots' (here the stand-in CA) + govproxy's CA."""
    out = subprocess.run(
        [sys.executable, "-m", "govproxy.cli", "env", "--confdir", str(proxy.confdir), "--roots", str(certs.ca_cert), "--proxy-port", str(proxy.port)],
        capture_output=True, text=True, check=True,
    ).stdout
    env = dict(line.removeprefix("export ").split("=", 1) for line in out.splitlines())
    return Path(env["SSL_CERT_FILE"].strip("'"))


