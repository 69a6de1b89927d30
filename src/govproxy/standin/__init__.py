"""A loopback stand-in for the LLM providers govproxy governs.

govproxy's tests may never reach a real provider, so this package impersonates them
faithfully enough that the official SDKs, curl and govproxy itself cannot tell: the same
paths, JSON shapes, SSE event sequences, error envelopes and rate-limit headers, over
plain HTTP or TLS with a throw-away CA. Its "model" echoes the last user message, so a
test can see exactly what arrived and what came back. Faults (error statuses, hangs,
resets, garbage, slow first byte) and a full record of requests and connections make
failover and streaming code testable.

Quick start::

    from govproxy.standin import StandinServer, make_test_certs

    certs = make_test_certs(tmp_path)
    with StandinServer(tls=True, certs=certs) as s:
        client = openai.OpenAI(base_url=s.url + "/v1", api_key="k",
                               http_client=httpx.Client(verify=str(certs.ca_cert)))
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
        assert s.last_request().json()["messages"][0]["content"] == "hi"
"""

from govproxy.standin.certs import CertBundle, ca_bundle_with_public_roots, make_test_certs, provider_hostnames
from govproxy.standin.client import StandinClient
from govproxy.standin.echo import ECHO_PREFIX, TOOL_TRIGGER
from govproxy.standin.faults import Fault, FaultKind
from govproxy.standin.process import StandinProcess
from govproxy.standin.recording import RecordedRequest
from govproxy.standin.server import StandinServer, standin_server

__all__ = [
    "ECHO_PREFIX",
    "TOOL_TRIGGER",
    "CertBundle",
    "Fault",
    "FaultKind",
    "RecordedRequest",
    "StandinClient",
    "StandinProcess",
    "StandinServer",
    "ca_bundle_with_public_roots",
    "make_test_certs",
    "provider_hostnames",
    "standin_server",
]
