"""Fixtures for the stand-in's own tests: one CA per session, a fresh server per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from govproxy.standin import CertBundle, StandinServer, make_test_certs


@pytest.fixture(scope="session")
def certs(tmp_path_factory: pytest.TempPathFactory) -> CertBundle:
    return make_test_certs(tmp_path_factory.mktemp("standin-certs"), ["extra.example.test"])


@pytest.fixture
def server(certs: CertBundle) -> Iterator[StandinServer]:
    with StandinServer(tls=True, certs=certs) as s:
        yield s


@pytest.fixture
def plain_server() -> Iterator[StandinServer]:
    with StandinServer() as s:
        yield s
