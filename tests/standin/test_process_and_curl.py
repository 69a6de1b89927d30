"""The stand-in as a subprocess (``python -m govproxy.standin``) and as seen by curl."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from govproxy.standin import CertBundle, StandinProcess, StandinServer

CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")


def curl(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    assert CURL is not None
    return subprocess.run(
        [CURL, "-sS", "--noproxy", "*", *args], input=stdin, check=False, capture_output=True, text=True, timeout=20
    )


def test_subprocess_prints_ready_line_and_serves_tls(tmp_path: Path) -> None:
    with StandinProcess(tls=True, cert_dir=tmp_path / "certs", chunk_size=3) as proc:
        assert proc.url.startswith("https://127.0.0.1:")
        assert proc.info["ca_file"] == str(tmp_path / "certs" / "ca.pem")
        ctl = proc.client
        assert ctl.health()
        ctl.set_fault("status", status=503, times=1)
        verify = ssl.create_default_context(cafile=proc.info["ca_file"])
        with httpx.Client(verify=verify, trust_env=False) as c:
            body = {"model": "m", "messages": [{"role": "user", "content": "sub"}]}
            first = c.post(proc.url + "/v1/chat/completions", headers={"authorization": "Bearer k"}, json=body)
            second = c.post(proc.url + "/v1/chat/completions", headers={"authorization": "Bearer k"}, json=body)
        assert (first.status_code, second.status_code) == (503, 200)
        assert second.json()["choices"][0]["message"]["content"] == "echo: sub"
        recorded = ctl.requests
        assert [r.json()["messages"][0]["content"] for r in recorded] == ["sub", "sub"]
        assert ctl.connections == 1
        ctl.reset()
        assert ctl.requests == []


def test_subprocess_reuses_existing_cert_dir(tmp_path: Path, certs: CertBundle) -> None:
    with StandinProcess(tls=True, cert_dir=certs.ca_cert.parent) as proc:
        assert proc.info["ca_file"] == str(certs.ca_cert)


def test_process_startup_failure_reports_the_childs_error() -> None:
    with StandinServer() as s:
        proc = StandinProcess(port=s.port)
        with pytest.raises(RuntimeError, match="cannot start stand-in"):
            proc.start()


def test_cli_rejects_tls_without_cert_dir() -> None:
    r = subprocess.run([sys.executable, "-m", "govproxy.standin", "--tls"], check=False, capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "--cert-dir" in r.stderr


def test_cli_reports_a_port_in_use() -> None:
    with StandinServer() as s:
        r = subprocess.run(
            [sys.executable, "-m", "govproxy.standin", "--port", str(s.port)], check=False, capture_output=True, text=True, timeout=20
        )
    assert r.returncode == 1 and "cannot start" in r.stderr


@needs_curl
def test_curl_chat_completion_over_tls(server: StandinServer) -> None:
    r = curl(
        "--cacert",
        str(server.ca_file),
        "-H",
        "Authorization: Bearer sk-curl",
        "-H",
        "Content-Type: application/json",
        "-d",
        json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "from curl"}]}),
        server.url + "/v1/chat/completions",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["choices"][0]["message"]["content"] == "echo: from curl"


@needs_curl
def test_curl_resolves_provider_hostname_to_standin(server: StandinServer) -> None:
    """curl --resolve api.anthropic.com → loopback: certificate and SNI check out like the real host."""
    r = curl(
        "--cacert",
        str(server.ca_file),
        "--resolve",
        f"api.anthropic.com:{server.port}:127.0.0.1",
        "-N",
        "-H",
        "x-api-key: k",
        "-H",
        "anthropic-version: 2023-06-01",
        "-H",
        "content-type: application/json",
        "-d",
        json.dumps({"model": "claude", "max_tokens": 10, "stream": True, "messages": [{"role": "user", "content": "sse"}]}),
        f"https://api.anthropic.com:{server.port}/v1/messages",
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("event: message_start\n")
    assert r.stdout.rstrip().endswith('data: {"type":"message_stop"}')
    assert server.last_request().sni == "api.anthropic.com"


@needs_curl
def test_curl_expect_100_continue_and_http10(plain_server: StandinServer) -> None:
    body = json.dumps({"model": "m", "messages": [{"role": "user", "content": "x" * 2_000_000}]})
    r = curl(
        "-H",
        "Authorization: Bearer k",
        "-H",
        "Content-Type: application/json",
        "-H",
        "Expect: 100-continue",
        "--data-binary",
        "@-",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        plain_server.url + "/v1/chat/completions",
        stdin=body,
    )
    assert r.stdout == "200", r.stderr
    assert len(plain_server.last_request().body) == len(body)
    r10 = curl("-0", "-H", "Authorization: Bearer k", plain_server.url + "/v1/models")
    assert r10.returncode == 0 and "gpt-4o" in r10.stdout
