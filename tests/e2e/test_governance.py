"""Issues 3, 4, 5 end to end: DLP, policy decisions and the audit trail through a real proxy."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import anthropic
import httpx
import openai
import pytest

from tests.e2e.helpers import trust_bundle

# Values a user must get back but the provider must never see (fake, but valid: Luhn, mod-97).
EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
IBAN = "DE89370400440532013000"
PHONE = "+1 415 555 0134"
PII_PROMPT = f"Please write to {EMAIL}, card {CARD}, IBAN {IBAN}, phone {PHONE}."
PRIVATE_KEY = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQAAACDx\n"
    "-----END OPENSSH PRIVATE KEY-----"
)


def _sent_text(cloud) -> str:
    return cloud.last_request().body.decode()


# --- issue 3: pseudonymise on the way out, restore on the way back --------------------------


def test_openai_pii_is_pseudonymised_upstream_and_restored_for_the_app(shared_proxy, certs, cloud, app_env):
    app_env(shared_proxy, certs)
    oai = openai.OpenAI(api_key="sk-test")
    resp = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PII_PROMPT}])
    sent = _sent_text(cloud)
    for value in (EMAIL, "4111", IBAN, "555 0134"):
        assert value not in sent, f"{value} reached the provider"
    assert "[EMAIL_ADDRESS_1]" in sent or "[EMAIL_1]" in sent
    text = resp.choices[0].message.content
    for value in (EMAIL, CARD, IBAN, PHONE):
        assert value in text, f"{value} not restored for the app: {text}"


@pytest.mark.parametrize("chunk", [1, 3, 7])
def test_openai_streaming_restores_placeholders_split_across_chunks(shared_proxy, certs, cloud, app_env, chunk):
    app_env(shared_proxy, certs)
    cloud.configure(chunk_size=chunk)
    oai = openai.OpenAI(api_key="sk-test")
    stream = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PII_PROMPT}], stream=True)
    text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert EMAIL not in _sent_text(cloud)
    for value in (EMAIL, CARD, IBAN, PHONE):
        assert value in text
    assert "_1]" not in text  # no placeholder left behind


def test_anthropic_pii_round_trip_streaming_and_not(shared_proxy, certs, cloud, app_env):
    app_env(shared_proxy, certs)
    cloud.configure(chunk_size=5)
    ac = anthropic.Anthropic(api_key="sk-ant-test")
    msg = ac.messages.create(model="claude-sonnet-4-5", max_tokens=200, messages=[{"role": "user", "content": PII_PROMPT}])
    assert EMAIL not in _sent_text(cloud) and EMAIL in msg.content[0].text and IBAN in msg.content[0].text
    with ac.messages.stream(model="claude-sonnet-4-5", max_tokens=200, system=f"Customer email: {EMAIL}", messages=[{"role": "user", "content": PII_PROMPT}]) as s:
        text = "".join(s.text_stream)
    sent = _sent_text(cloud)
    assert EMAIL not in sent and IBAN not in sent
    assert EMAIL in text and CARD in text


def test_gzip_body_with_pii_is_redacted_and_recompressed(shared_proxy, certs, cloud, app_env):
    import gzip

    bundle = app_env(shared_proxy, certs)
    raw = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": f"mail {EMAIL}"}]}).encode()
    with httpx.Client(proxy=shared_proxy.url, verify=str(bundle), timeout=20) as c:
        c.post("https://api.openai.com/v1/chat/completions", content=gzip.compress(raw),
               headers={"authorization": "Bearer k", "content-type": "application/json", "content-encoding": "gzip"})
    seen = cloud.last_request()
    assert seen.header("content-encoding") == "gzip"
    assert EMAIL.encode() not in gzip.decompress(seen.body) and b"EMAIL" in gzip.decompress(seen.body)


def test_caller_can_raise_sensitivity_but_not_lower_it(shared_proxy, certs, cloud, local, app_env):
    bundle = app_env(shared_proxy, certs)
    body = {"model": "gpt-4o", "messages": [{"role": "user", "content": "plain text, nothing sensitive"}]}
    with httpx.Client(proxy=shared_proxy.url, verify=str(bundle), timeout=20) as c:
        r = c.post("https://api.openai.com/v1/chat/completions", json=body, headers={"authorization": "Bearer k", "X-Govproxy-Sensitivity": "critical"})
        assert r.status_code == 200
        assert local.requests and not cloud.requests  # raised to critical: kept local
        local.reset()
        body["messages"][0]["content"] = PRIVATE_KEY
        r = c.post("https://api.openai.com/v1/chat/completions", json=body, headers={"authorization": "Bearer k", "X-Govproxy-Sensitivity": "public"})
        assert r.status_code == 200 and local.requests and not cloud.requests  # "public" cannot lower critical


# --- issue 4: decisions in the request path ------------------------------------------------


def test_critical_prompt_goes_to_the_local_model_never_the_cloud(shared_proxy, certs, cloud, local, app_env):
    app_env(shared_proxy, certs)
    oai = openai.OpenAI(api_key="sk-cloud-key")
    resp = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"debug this key:\n{PRIVATE_KEY}"}])
    assert resp.choices[0].message.content.startswith("echo")
    assert cloud.requests == [] and cloud.connections == 0
    seen = local.last_request()
    assert seen.header("authorization") is None  # the caller's OpenAI key never leaves for another provider
    assert seen.json()["model"] == "llama3.1:8b"  # mapped to the local provider's default model
    assert "BEGIN OPENSSH PRIVATE KEY" not in seen.body.decode()


def test_critical_prompt_without_a_local_provider_is_denied_in_the_sdk(start_proxy, certs, cloud, app_env):
    proxy = start_proxy({"providers_replace": True, "providers": {
        "openai": {"kind": "openai", "base_url": "https://api.openai.com/v1", "hosts": ["api.openai.com"], "region": "us"},
    }})
    app_env(proxy, certs)
    oai = openai.OpenAI(api_key="sk-test", max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as err:
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PRIVATE_KEY}])
    assert "govproxy.sensitivity" in str(err.value)
    assert cloud.requests == [] and cloud.connections == 0


def test_eu_tenant_is_rerouted_in_region_with_the_target_providers_own_key(start_proxy, certs, cloud, app_env):
    proxy = start_proxy({"tenants": {"eu-team": {"residency": ["eu"]}}}, env={"MISTRAL_API_KEY": "mistral-secret"})
    bundle = app_env(proxy, certs)
    with httpx.Client(proxy=proxy.url, verify=str(bundle), timeout=20) as c:
        r = c.post("https://api.openai.com/v1/chat/completions", json={"model": "gpt-4o", "messages": [{"role": "user", "content": "hello from the EU"}]},
                   headers={"authorization": "Bearer sk-openai-caller", "X-Govproxy-Tenant": "eu-team"})
    assert r.status_code == 200, r.text
    seen = cloud.last_request()
    assert seen.sni == "api.mistral.ai"
    assert seen.header("authorization") == "Bearer mistral-secret"


def test_eu_tenant_without_an_eu_provider_is_denied_with_451(start_proxy, certs, cloud, app_env):
    # No MISTRAL_API_KEY and no local model for this tenant: nothing usable in the EU.
    proxy = start_proxy({"tenants": {"eu-team": {"residency": ["eu"], "deny_providers": ["local"]}}})
    app_env(proxy, certs)
    ac = anthropic.Anthropic(api_key="k", max_retries=0, default_headers={"X-Govproxy-Tenant": "eu-team"})
    with pytest.raises(anthropic.APIStatusError) as err:
        ac.messages.create(model="claude-sonnet-4-5", max_tokens=10, messages=[{"role": "user", "content": "hi"}])
    assert err.value.status_code == 451 and "residency" in str(err.value)
    assert cloud.requests == []


@pytest.mark.parametrize("broken", ["invalid-rego", "opa-down"])
def test_broken_policy_engine_blocks_critical_data_and_reaches_no_upstream(start_proxy, certs, cloud, local, app_env, tmp_path, broken):
    if broken == "invalid-rego":
        bad = tmp_path / "bad-policies"
        bad.mkdir()
        (bad / "broken.rego").write_text("package govproxy\n\ndecision := { this is not rego\n")
        policy = {"path": str(bad)}
    else:
        from govproxy.launcher import free_port

        policy = {"engine": "opa", "opa_url": f"http://127.0.0.1:{free_port()}"}
    try:
        proxy = start_proxy({"policy": policy})
    except RuntimeError as exc:  # refusing to start on a broken policy set is also failing closed
        assert "policy" in str(exc).lower()
        return
    bundle = app_env(proxy, certs)
    with httpx.Client(proxy=proxy.url, verify=str(bundle), timeout=20) as c:
        r = c.post("https://api.openai.com/v1/chat/completions", json={"model": "gpt-4o", "messages": [{"role": "user", "content": PRIVATE_KEY}]}, headers={"authorization": "Bearer k"})
    assert r.status_code in (403, 503) and "govproxy" in r.text
    assert cloud.requests == [] and local.requests == []


def test_dry_run_matches_what_the_proxy_does(tmp_path, shared_proxy, certs, cloud, local, app_env):
    body = tmp_path / "req.json"
    body.write_text(json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": f"mail {EMAIL}"}]}))
    out = subprocess.run(
        [sys.executable, "-m", "govproxy.cli", "dry-run", "--url", "https://api.openai.com/v1/chat/completions", "--body", str(body), "--config", str(shared_proxy.config_path)],
        capture_output=True, text=True, timeout=60, check=True,
    )
    plan = json.loads(out.stdout)
    assert plan["action"] == "forward" and plan["dlp"]["counts"] == {"EMAIL_ADDRESS": 1}
    assert EMAIL not in out.stdout  # dry-run output never shows the raw value
    would_send = plan["forward"]["body"]["messages"][0]["content"]
    assert cloud.requests == [] and local.requests == []  # dry-run contacts nobody
    bundle = app_env(shared_proxy, certs)
    with httpx.Client(proxy=shared_proxy.url, verify=str(bundle), timeout=20) as c:
        c.post("https://api.openai.com/v1/chat/completions", content=body.read_bytes(), headers={"authorization": "Bearer k", "content-type": "application/json"})
    assert cloud.last_request().json()["messages"][0]["content"] == would_send


def test_dry_run_fail_on_deny_exit_code(tmp_path):
    body = tmp_path / "req.json"
    body.write_text(json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": PRIVATE_KEY}]}))
    cfg = tmp_path / "c.yaml"
    cfg.write_text("providers_replace: true\nproviders:\n  openai: {kind: openai, base_url: 'https://api.openai.com/v1', hosts: [api.openai.com]}\n")
    out = subprocess.run(
        [sys.executable, "-m", "govproxy.cli", "dry-run", "--url", "https://api.openai.com/v1/chat/completions", "--body", str(body), "--config", str(cfg), "--fail-on-deny"],
        capture_output=True, text=True, timeout=60,
    )
    assert out.returncode == 1 and json.loads(out.stdout)["decision"]["deny"][0]["code"] == "sensitivity"


# --- issue 5: the trail, exported and verified offline; nothing leaks ----------------------


def test_audit_export_verifies_offline_and_holds_no_secrets(start_proxy, certs, cloud, local, app_env, tmp_path):
    proxy = start_proxy({"tenants": {"acme": {"token": "tok-acme"}}})
    app_env(proxy, certs)
    canary_key = "sk-canary-" + "Zq7" * 10
    oai = openai.OpenAI(api_key=canary_key, max_retries=0)
    oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PII_PROMPT}])
    oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": PRIVATE_KEY}])
    with httpx.Client(proxy=proxy.url, verify=str(trust_bundle(proxy, certs)), timeout=20) as c:
        c.post("https://api.openai.com/v1/chat/completions", content=b"{bad", headers={"authorization": f"Bearer {canary_key}", "content-type": "application/json"})
    proxy.stop()  # signs the final checkpoint

    db = proxy.workdir / "audit" / "govproxy.db"
    pub = proxy.workdir / "audit" / "keys" / "signing.key.pub"
    assert db.exists() and pub.exists()
    bundle = tmp_path / "bundle"
    run = lambda *a: subprocess.run([sys.executable, "-m", "govproxy.cli", *a], capture_output=True, text=True, timeout=60, cwd=proxy.workdir)  # noqa: E731
    exp = run("audit", "export", "--db", str(db), "--out", str(bundle))
    assert exp.returncode == 0, exp.stderr + exp.stdout
    ver = run("audit", "verify", str(bundle), "--pubkey", str(pub))
    assert ver.returncode == 0, ver.stdout + ver.stderr

    records = [json.loads(line) for line in (bundle / "records.jsonl").read_text().splitlines()]
    kinds = [r.get("kind") for r in records]
    assert kinds.count("decision") == 3 and kinds.count("outcome") == 2
    blob = db.read_bytes() + b"".join(p.read_bytes() for p in db.parent.glob("govproxy.db*")) + (bundle / "records.jsonl").read_bytes()
    for secret in (canary_key, EMAIL, IBAN, "4111 1111", "b3BlbnNzaC1rZXkt"):
        assert secret.encode() not in blob, f"{secret} leaked into the audit store"
    for secret in (canary_key, EMAIL, IBAN):
        assert secret not in proxy.output, f"{secret} leaked into the logs"
    con = sqlite3.connect(db)
    try:
        with pytest.raises(sqlite3.DatabaseError):
            con.execute("UPDATE records SET body = x'00' WHERE seq = 1")
    finally:
        con.close()


def test_replay_a_recorded_trail_under_a_policy_change(start_proxy, certs, cloud, local, app_env, tmp_path):
    proxy = start_proxy()
    app_env(proxy, certs)
    oai = openai.OpenAI(api_key="sk-t", max_retries=0)
    for text in ("hello", f"mail {EMAIL}", PRIVATE_KEY):
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": text}], extra_headers={"X-Govproxy-Tenant": "team-x"})
    proxy.stop()
    db = proxy.workdir / "audit" / "govproxy.db"
    run = lambda *a: subprocess.run([sys.executable, "-m", "govproxy.cli", "replay", "--db", str(db), *a], capture_output=True, text=True, timeout=120, cwd=proxy.workdir)  # noqa: E731

    same = run("--config", str(proxy.config_path), "--fail-on-change")
    assert same.returncode == 0, same.stdout + same.stderr
    assert same.stdout.strip().endswith("3 replayed, 0 changed (0 newly denied, 0 newly allowed, 0 rerouted)")

    # The policy change under evaluation: team-x may no longer use OpenAI.
    import yaml

    changed = tmp_path / "changed.yaml"
    cfg = yaml.safe_load(proxy.config_path.read_text())
    cfg["tenants"] = {"team-x": {"deny_providers": ["openai"]}}
    changed.write_text(yaml.safe_dump(cfg))
    out = run("--config", str(changed), "--json", "--fail-on-change")
    assert out.returncode == 1, out.stderr
    report = json.loads(out.stdout)
    assert report["summary"]["replayed"] == 3
    assert {c["after"] for c in report["changes"]} == {"deny(provider_not_allowed)"}
    assert report["summary"]["newly_denied"] == 3  # asking for a provider the tenant may not use is denied outright
    before = sorted(c["before"] for c in report["changes"])
    assert before == ["allow", "allow", "route(local)"]
    assert EMAIL not in out.stdout


@pytest.mark.parametrize("stream", [False, True])
def test_responses_api_pii_round_trip(shared_proxy, certs, cloud, app_env, stream):
    app_env(shared_proxy, certs)
    cloud.configure(chunk_size=3)
    oai = openai.OpenAI(api_key="sk-test", max_retries=0)
    if stream:
        with oai.responses.stream(model="gpt-4.1", input=PII_PROMPT) as s:
            deltas = "".join(e.delta for e in s if e.type == "response.output_text.delta")
            final = s.get_final_response()
        assert EMAIL in deltas and IBAN in deltas and CARD in deltas
        text = final.output_text
    else:
        text = oai.responses.create(model="gpt-4.1", input=PII_PROMPT).output_text
    sent = _sent_text(cloud)
    assert EMAIL not in sent and IBAN not in sent
    assert EMAIL in text and IBAN in text and PHONE in text
