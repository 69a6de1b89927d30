"""The running stack the end-to-end and issue-7 suites share: stand-ins and a real proxy.

A TLS "cloud" stand-in impersonates every provider host (``proxy.resolve`` pins
api.openai.com:443 etc. to it, keeping SNI and Host); a plain-HTTP "local" stand-in is an
OpenAI-compatible model; ``start_proxy`` runs the real ``govproxy run`` in front of them.
Registered for all tests by ``tests/conftest.py``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from govproxy.launcher import ProxyProcess
from govproxy.standin import CertBundle, StandinServer, make_test_certs
from tests.e2e.helpers import base_config, deep_merge


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


def make_proxy(workdir: Path, certs: CertBundle, cloud: StandinServer, local: StandinServer,
               overrides: dict[str, Any] | None = None, **kw: Any) -> ProxyProcess:
    """A configured but not yet started proxy (tests that restart one on the same workdir need this)."""
    cfg = deep_merge(base_config(cloud, local), overrides or {})
    if (overrides or {}).get("providers_replace"):
        cfg["providers"] = overrides["providers"]  # type: ignore[index]
    mitm = {"ssl_verify_upstream_trusted_ca": str(certs.ca_cert), **kw.pop("mitm_options", {})}
    return ProxyProcess(workdir, cfg, mitm_options=mitm, **kw)


@pytest.fixture
def start_proxy(tmp_path: Path, certs: CertBundle, cloud: StandinServer, local: StandinServer) -> Iterator[ProxyFactory]:
    started: list[ProxyProcess] = []

    def factory(overrides: dict[str, Any] | None = None, *, name: str = "proxy", **kw: Any) -> ProxyProcess:
        p = make_proxy(tmp_path / name, certs, cloud, local, overrides, **kw)
        started.append(p)
        return p.start()

    yield factory
    for p in started:
        p.stop()


