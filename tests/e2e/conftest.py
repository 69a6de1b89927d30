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
from typing import Any

import pytest

from govproxy.launcher import ProxyProcess
from govproxy.standin import CertBundle, StandinServer, make_test_certs
from tests.e2e.helpers import base_config, deep_merge, trust_bundle

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertBundle:
    return make_test_certs(tmp_path_factory.mktemp("standin-certs"), extra_names=["eu-a.test", "eu-b.test"])


@pytest.fixture(scope="session")
def cloud_server(certs: CertBundle) -> Iterator[StandinServer]:
    with StandinServer(tls=True, certs=certs) as s:
        yield s


@pytest.fixture(scope="session")
def local_server() -> Iterator[StandinServer]:
    with StandinServer(tls=False, require_api_key=False) as s:
        yield s


@pytest.fixture
def cloud(cloud_server: StandinServer) -> StandinServer:
    cloud_server.reset()
    cloud_server.configure(chunk_size=8, chunk_delay=0.0, require_api_key=True)
    return cloud_server


@pytest.fixture
def local(local_server: StandinServer) -> StandinServer:
    local_server.reset()
    local_server.configure(chunk_size=8, chunk_delay=0.0)
    return local_server


ProxyFactory = Callable[..., ProxyProcess]


@pytest.fixture
def start_proxy(tmp_path: Path, certs: CertBundle, cloud: StandinServer, local: StandinServer) -> Iterator[ProxyFactory]:
    started: list[ProxyProcess] = []

    def factory(overrides: dict[str, Any] | None = None, *, name: str = "proxy", **kw: Any) -> ProxyProcess:
        cfg = deep_merge(base_config(cloud, local), overrides or {})
        if (overrides or {}).get("providers_replace"):
            cfg["providers"] = overrides["providers"]  # exactly these providers, no defaults
        p = ProxyProcess(
            tmp_path / name,
            cfg,
            mitm_options={"ssl_verify_upstream_trusted_ca": str(certs.ca_cert)},
            **kw,
        )
        started.append(p)
        return p.start()

    yield factory
    for p in started:
        p.stop()


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
