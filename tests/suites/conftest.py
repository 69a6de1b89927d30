"""Fixtures for the issue-7 suites; the stack itself (stand-ins, ``start_proxy``) is in tests/stack.py."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from govproxy.launcher import ProxyProcess
from govproxy.standin import CertBundle
from tests.e2e.helpers import trust_bundle


@pytest.fixture
def bundle_for(certs: CertBundle) -> Callable[[ProxyProcess], Path]:
    """The CA bundle an app gets from ``govproxy env`` for this proxy."""
    return lambda proxy: trust_bundle(proxy, certs)
