"""End-to-end fixtures: a real ``govproxy run`` subprocess in front of loopback stand-ins.

The "cloud" stand-in serves TLS with a throw-away CA and impersonates every provider host
(the proxy's ``proxy.resolve`` pins api.openai.com:443 etc. to it, keeping SNI and Host);
the "local" stand-in is a plain-HTTP OpenAI-compatible model. Clients are configured only
through HTTPS_PROXY and CA trust, exactly as an app would be.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from govproxy.launcher import ProxyProcess
from govproxy.standin import CertBundle, StandinServer
from tests.e2e.helpers import base_config, trust_bundle

@pytest.fixture(scope="session")
def shared_proxy(tmp_path_factory: pytest.TempPathFactory, certs: CertBundle, cloud_server: StandinServer, local_server: StandinServer) -> Iterator[ProxyProcess]:
    """One default proxy for the many tests that need no special config (startup costs ~1 s)."""
    p = ProxyProcess(
        tmp_path_factory.mktemp("shared-proxy"),
        base_config(cloud_server, local_server),
        mitm_options={"ssl_verify_upstream_trusted_ca": str(certs.ca_cert)},
    )
    p.start()
    yield p
    p.stop()


@pytest.fixture
def app_env(monkeypatch: pytest.MonkeyPatch) -> Callable[[ProxyProcess, CertBundle], Path]:
    """Configure this process like an app after `eval "$(govproxy env)"`."""

    def apply(proxy: ProxyProcess, certs: CertBundle) -> Path:
        bundle = trust_bundle(proxy, certs)
        for var in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy"):
            monkeypatch.setenv(var, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        monkeypatch.setenv("SSL_CERT_FILE", str(bundle))
        return bundle

    return apply


os.environ.setdefault("OPENAI_LOG", "")
