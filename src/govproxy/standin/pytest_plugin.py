"""Pytest fixtures for any govproxy test that needs a provider: ``pytest_plugins = ["govproxy.standin.pytest_plugin"]``.

Only pytest loads this module (the package itself never imports pytest), so pytest stays
a test-only dependency. Fixtures:

* ``standin_certs``  – session-wide throw-away CA + server cert (all provider hosts in SANs)
* ``standin``        – a fresh TLS :class:`StandinServer` per test
* ``standin_plain``  – a fresh plain-HTTP server per test (the "local model" case)
* ``standin_ca_bundle`` – a PEM bundle of certifi's public roots plus the test CA, for
  ``SSL_CERT_FILE`` / ``REQUESTS_CA_BUNDLE`` of client processes
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from govproxy.standin.certs import CertBundle, ca_bundle_with_public_roots, make_test_certs
from govproxy.standin.server import StandinServer


@pytest.fixture(scope="session")
def standin_certs(tmp_path_factory: pytest.TempPathFactory) -> CertBundle:
    return make_test_certs(tmp_path_factory.mktemp("standin-certs"))


@pytest.fixture(scope="session")
def standin_ca_bundle(standin_certs: CertBundle, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return ca_bundle_with_public_roots(standin_certs, tmp_path_factory.mktemp("standin-bundle") / "bundle.pem")


@pytest.fixture
def standin(standin_certs: CertBundle) -> Iterator[StandinServer]:
    with StandinServer(tls=True, certs=standin_certs) as server:
        yield server


@pytest.fixture
def standin_plain() -> Iterator[StandinServer]:
    with StandinServer() as server:
        yield server
