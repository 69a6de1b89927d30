# ruff: noqa: F811  (fixtures imported from the plugin are then requested by name)
"""The pytest plugin's fixtures work, and SDKs with *default* clients trust the stand-in via SSL_CERT_FILE."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from govproxy.standin import CertBundle, StandinServer
from govproxy.standin.pytest_plugin import standin, standin_ca_bundle, standin_certs, standin_plain  # noqa: F401

CHILD = """
import sys, openai, anthropic
base = sys.argv[1]
o = openai.OpenAI(base_url=base + "/v1", api_key="k", max_retries=0)
print(o.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "env trust"}]).choices[0].message.content)
a = anthropic.Anthropic(base_url=base, api_key="k", max_retries=0)
print(a.messages.create(model="claude-sonnet-4-6", max_tokens=8, messages=[{"role": "user", "content": "env trust"}]).content[0].text)
"""


def test_bundle_holds_public_roots_and_test_ca(standin_ca_bundle: Path, standin_certs: CertBundle) -> None:
    text = standin_ca_bundle.read_text()
    assert text.count("BEGIN CERTIFICATE") > 50
    assert text.rstrip().endswith(standin_certs.ca_cert.read_text().rstrip())


def test_default_sdk_clients_trust_standin_through_ssl_cert_file(standin: StandinServer, standin_ca_bundle: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.upper().endswith("_PROXY")}
    env["SSL_CERT_FILE"] = str(standin_ca_bundle)
    r = subprocess.run([sys.executable, "-c", CHILD, standin.url], env=env, check=False, capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stdout.splitlines() == ["echo: env trust", "echo: env trust"]
    assert len(standin.requests) == 2


def test_plain_fixture_is_http(standin_plain: StandinServer) -> None:
    assert standin_plain.url.startswith("http://") and standin_plain.ca_file is None
