"""Issue 6 end to end: reroute + translate, failover, circuit breakers, budgets, cost, metrics."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time

import anthropic
import httpx
import openai
import pytest

from govproxy.launcher import free_port

EU = {"tenants": {"eu-team": {"residency": ["eu"], "deny_providers": ["local"]}}}
WEATHER_TOOL = {
    "type": "function",
    "function": {"name": "get_weather", "description": "weather for a city", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}},
}


def eu_providers(**extra) -> dict:
    """Two EU OpenAI-compatible providers with their own keys, served by the cloud stand-in."""
    return {
        "proxy": {"resolve": {"eu-a.test:443": None, "eu-b.test:443": None}, **extra.pop("proxy", {})},
        "providers": {
            "eu-a": {"kind": "openai-compatible", "base_url": "https://eu-a.test/v1", "region": "eu", "api_key_env": "EU_A_KEY", "models": {"default": "model-a"}},
            "eu-b": {"kind": "openai-compatible", "base_url": "https://eu-b.test/v1", "region": "eu", "api_key_env": "EU_B_KEY", "models": {"default": "model-b"}},
        },
        **EU,
        **extra,
    }


def start_eu(start_proxy, cloud, overrides=None, **kw):
    cfg = eu_providers(**(overrides or {}))
    cfg["proxy"]["resolve"] = {"eu-a.test:443": f"127.0.0.1:{cloud.port}", "eu-b.test:443": f"127.0.0.1:{cloud.port}"}
    return start_proxy(cfg, env={"EU_A_KEY": "key-a", "EU_B_KEY": "key-b", **kw.pop("env", {})}, **kw)


def eu_client(proxy, bundle) -> openai.OpenAI:
    return openai.OpenAI(api_key="sk-caller", max_retries=0, default_headers={"X-Govproxy-Tenant": "eu-team"},
                         http_client=openai.DefaultHttpxClient(proxy=proxy.url, verify=str(bundle)))


# --- reroute + translation ------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
def test_openai_sdk_rerouted_to_anthropic_format_target_with_tool_calls(start_proxy, certs, cloud, app_env, stream):
    proxy = start_proxy({**EU, "providers": {"anthropic": {"region": "eu"}}}, env={"ANTHROPIC_API_KEY": "ant-key"})
    bundle = app_env(proxy, certs)
    oai = openai.OpenAI(api_key="sk-openai-caller", max_retries=0, default_headers={"X-Govproxy-Tenant": "eu-team"})
    kwargs = dict(model="gpt-4o", messages=[{"role": "user", "content": "please call tool for Paris"}], tools=[WEATHER_TOOL])
    if stream:
        chunks = list(oai.chat.completions.create(stream=True, **kwargs))
        calls = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
        assert calls and calls[0].function.name == "get_weather"
        finish = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
        assert finish == ["tool_calls"]
    else:
        resp = oai.chat.completions.create(**kwargs)
        assert resp.choices[0].finish_reason == "tool_calls"
        assert resp.choices[0].message.tool_calls[0].function.name == "get_weather"
        assert resp.model == "gpt-4o"  # the app sees the model it asked for
    seen = cloud.last_request()
    assert seen.sni == "api.anthropic.com" and seen.path == "/v1/messages"
    assert seen.header("x-api-key") == "ant-key" and seen.header("authorization") is None
    body = seen.json()
    assert body["tools"][0]["name"] == "get_weather" and body["messages"][0]["role"] == "user"
    del bundle


ANTHROPIC_WEATHER = {"name": "get_weather", "description": "weather for a city", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_sdk_rerouted_to_openai_format_target(start_proxy, certs, cloud, app_env, stream):
    proxy = start_proxy({**EU, "providers": {"openai": {"region": "eu"}}}, env={"OPENAI_API_KEY": "oai-key"})
    app_env(proxy, certs)
    ac = anthropic.Anthropic(api_key="sk-ant-caller", max_retries=0, default_headers={"X-Govproxy-Tenant": "eu-team"})
    if stream:
        with ac.messages.stream(model="claude-sonnet-4-5", max_tokens=50, system="be brief", messages=[{"role": "user", "content": "hello there"}]) as s:
            text = "".join(s.text_stream)
            final = s.get_final_message()
        assert "hello there" in text and final.stop_reason == "end_turn"
    else:
        msg = ac.messages.create(model="claude-sonnet-4-5", max_tokens=50, system="be brief", messages=[{"role": "user", "content": "hello there"}])
        assert msg.type == "message" and "hello there" in msg.content[0].text and msg.usage.input_tokens > 0
    seen = cloud.last_request()
    assert seen.sni == "api.openai.com" and seen.path == "/v1/chat/completions"
    assert seen.header("authorization") == "Bearer oai-key" and seen.header("x-api-key") is None
    assert seen.json()["messages"][0] == {"role": "system", "content": "be brief"}
    assert seen.json()["model"] == "gpt-4o"  # the openai provider's default model for rerouted requests


@pytest.mark.parametrize("stream", [False, True])
def test_anthropic_sdk_tool_use_through_an_openai_format_target(start_proxy, certs, cloud, app_env, stream):
    proxy = start_proxy({**EU, "providers": {"openai": {"region": "eu"}}}, env={"OPENAI_API_KEY": "oai-key"})
    app_env(proxy, certs)
    ac = anthropic.Anthropic(api_key="sk-ant-caller", max_retries=0, default_headers={"X-Govproxy-Tenant": "eu-team"})
    kwargs = dict(model="claude-sonnet-4-5", max_tokens=100, tools=[ANTHROPIC_WEATHER], messages=[{"role": "user", "content": "please call tool for Oslo"}])
    if stream:
        with ac.messages.stream(**kwargs) as s:
            final = s.get_final_message()
    else:
        final = ac.messages.create(**kwargs)
    uses = [b for b in final.content if b.type == "tool_use"]
    assert final.stop_reason == "tool_use" and uses and uses[0].name == "get_weather" and isinstance(uses[0].input, dict)
    sent = cloud.last_request().json()
    assert sent["tools"][0]["function"]["name"] == "get_weather"
    # The tool result goes back the same way and reaches the OpenAI-format target as a tool message.
    follow = ac.messages.create(
        model="claude-sonnet-4-5", max_tokens=100, tools=[ANTHROPIC_WEATHER],
        messages=[kwargs["messages"][0], {"role": "assistant", "content": [u.model_dump() for u in uses]},
                  {"role": "user", "content": [{"type": "tool_result", "tool_use_id": uses[0].id, "content": "sunny, 21C"}]}],
    )
    assert "sunny, 21C" in follow.content[0].text
    tool_msgs = [m for m in cloud.last_request().json()["messages"] if m["role"] == "tool"]
    assert tool_msgs and "sunny, 21C" in json.dumps(tool_msgs[0])


def test_openai_sdk_rerouted_to_local_openai_compatible_model_streaming(shared_proxy, certs, cloud, local, app_env):
    app_env(shared_proxy, certs)
    oai = openai.OpenAI(api_key="sk-test", max_retries=0)
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAzq9Lm2XvY5bGx0N3Zf7V\n-----END RSA PRIVATE KEY-----"
    text = "".join(c.choices[0].delta.content or "" for c in oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": f"look: {key}"}], stream=True) if c.choices)
    assert text.startswith("echo") and not cloud.requests
    assert local.last_request().json()["stream"] is True


# --- failover, circuits ----------------------------------------------------------------------


@pytest.mark.parametrize("fault", [{"kind": "status", "status": 429, "retry_after": 0}, {"kind": "status", "status": 503}, {"kind": "reset"}])
def test_failover_to_the_next_allowed_candidate(start_proxy, certs, cloud, app_env, fault):
    proxy = start_eu(start_proxy, cloud, {"proxy": {"failover": True}})
    bundle = app_env(proxy, certs)
    cloud.set_fault(times=1, model="model-a", **fault)  # the policy's target (eu-a) fails once
    resp = eu_client(proxy, bundle).chat.completions.with_raw_response.create(model="gpt-4o", messages=[{"role": "user", "content": "fail me over"}])
    assert resp.http_response.status_code == 200
    assert "fail me over" in resp.parse().choices[0].message.content
    models = [r.json()["model"] if r.body else None for r in cloud.requests]
    assert models == ["model-a", "model-b"]  # tried the target, then the next allowed candidate
    assert {r.header("authorization") for r in cloud.requests} <= {"Bearer key-a", "Bearer key-b"}  # never the caller's key
    explain = subprocess.run([sys.executable, "-m", "govproxy.cli", "explain", resp.http_response.headers["x-govproxy-request-id"], "--config", str(proxy.config_path)],
                             capture_output=True, text=True, cwd=proxy.workdir, timeout=30)
    assert explain.returncode == 0 and "failover" in explain.stdout, explain.stdout + explain.stderr


def test_failover_streaming_response_streams_from_the_second_candidate(start_proxy, certs, cloud, app_env):
    proxy = start_eu(start_proxy, cloud, {"proxy": {"failover": True}})
    bundle = app_env(proxy, certs)
    cloud.set_fault(times=1, model="model-a", kind="status", status=503)
    stream = eu_client(proxy, bundle).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "streamed failover"}], stream=True)
    assert "streamed failover" in "".join(c.choices[0].delta.content or "" for c in stream if c.choices)


def test_all_candidates_failing_gives_a_provider_format_error(start_proxy, certs, cloud, app_env):
    proxy = start_eu(start_proxy, cloud, {"proxy": {"failover": True}})
    bundle = app_env(proxy, certs)
    cloud.set_fault(kind="status", status=503)
    with pytest.raises(openai.APIStatusError) as err:
        eu_client(proxy, bundle).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert err.value.status_code == 503


def test_circuit_opens_after_failures_and_recovers(start_proxy, certs, cloud, app_env):
    proxy = start_eu(start_proxy, cloud, {"proxy": {"failover": True}, "routing": {"breaker": {"failures_to_open": 2, "cooldown_s": 1.0}, "failover": {"retry_backoff_s": 0.0}}})
    bundle = app_env(proxy, certs)
    client = eu_client(proxy, bundle)
    cloud.set_fault(kind="status", status=503, model="model-a")
    for _ in range(4):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    hits_a = [r for r in cloud.requests if r.json()["model"] == "model-a"]
    assert len(hits_a) == 2  # two failures opened the circuit; later requests skip eu-a
    circuits = subprocess.run([sys.executable, "-m", "govproxy.cli", "circuits", "--config", str(proxy.config_path)], capture_output=True, text=True, cwd=proxy.workdir, timeout=30)
    assert "eu-a" in circuits.stdout and "open" in circuits.stdout, circuits.stdout + circuits.stderr
    cloud.clear_fault()
    time.sleep(1.3)  # cool-down: the next request probes eu-a (half-open) and closes it
    cloud.reset()
    for _ in range(2):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "y"}])
    assert any(r.json()["model"] == "model-a" for r in cloud.requests)


# --- budgets and cost -----------------------------------------------------------------------


def test_tenant_budget_exhausted_is_denied_then_downgraded(start_proxy, certs, cloud, local, app_env):
    proxy = start_proxy({"tenants": {"small": {"budget": {"daily_tokens": 30}}}})
    app_env(proxy, certs)
    oai = openai.OpenAI(api_key="sk-t", max_retries=0, default_headers={"X-Govproxy-Tenant": "small"})
    oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "word " * 60}])  # uses up the tokens
    with pytest.raises(openai.PermissionDeniedError, match="budget"):
        oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "one more"}])
    assert len(cloud.requests) == 1

    proxy2 = start_proxy({"tenants": {"small": {"budget": {"daily_tokens": 30}}}, "policy": {"params": {"budget_action": "downgrade"}}}, name="downgrade")
    app_env(proxy2, certs)
    oai = openai.OpenAI(api_key="sk-t", max_retries=0, default_headers={"X-Govproxy-Tenant": "small"})
    oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "word " * 60}])
    r = oai.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "downgraded"}])
    assert "downgraded" in r.choices[0].message.content
    assert local.last_request().json()["messages"][0]["content"] == "downgraded"


def test_budget_warning_at_80_percent(start_proxy, certs, cloud, app_env):
    proxy = start_proxy({"tenants": {"mid": {"budget": {"daily_tokens": 400}}}})
    app_env(proxy, certs)
    oai = openai.OpenAI(api_key="sk-t", max_retries=0, default_headers={"X-Govproxy-Tenant": "mid"})
    first = oai.chat.completions.with_raw_response.create(model="gpt-4o", messages=[{"role": "user", "content": "word " * 150}])
    assert "x-govproxy-budget" not in first.http_response.headers
    used = first.parse().usage.total_tokens
    assert 320 <= used < 400, used  # the fixture prompt lands between 80 % and 100 %
    second = oai.chat.completions.with_raw_response.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert second.http_response.status_code == 200
    assert second.http_response.headers["x-govproxy-budget"].startswith("warn")
    assert proxy.wait_for_output("tenant mid has used 80% or more of a budget")


def test_usage_and_cost_are_recorded(start_proxy, certs, cloud, app_env):
    proxy = start_proxy({"providers": {"openai": {"prices": {"gpt-4o": {"input": 2.5, "output": 10.0}}}}})
    app_env(proxy, certs)
    oai = openai.OpenAI(api_key="sk-t", max_retries=0)
    raw = oai.chat.completions.with_raw_response.create(model="gpt-4o", messages=[{"role": "user", "content": "count my tokens " * 20}])
    usage = raw.parse().usage
    rid = raw.http_response.headers["x-govproxy-request-id"]
    proxy.stop()
    out = subprocess.run([sys.executable, "-m", "govproxy.cli", "audit", "show", rid, "--db", str(proxy.workdir / "audit" / "govproxy.db")],
                         capture_output=True, text=True, timeout=30, cwd=proxy.workdir)
    assert out.returncode == 0, out.stderr
    records, text, dec = [], out.stdout.strip(), json.JSONDecoder()
    while text:
        obj, end = dec.raw_decode(text)
        records.append(obj)
        text = text[end:].strip()
    outcome = next(r["record"]["payload"] for r in records if r["record"]["kind"] == "outcome")
    assert outcome["usage"] == {"input_tokens": usage.prompt_tokens, "output_tokens": usage.completion_tokens}
    # $2.50 / $10 per million tokens, in integer micro-USD.
    expected = (usage.prompt_tokens * 2_500_000 + usage.completion_tokens * 10_000_000) // 1_000_000
    assert abs(outcome["cost_micro_usd"] - expected) <= 1 and outcome["usage_estimated"] is False


# --- metrics --------------------------------------------------------------------------------


def test_prometheus_metrics_opt_in_on_loopback(start_proxy, certs, cloud, app_env):
    port = free_port()
    proxy = start_proxy({"metrics": {"port": port}})
    app_env(proxy, certs)
    openai.OpenAI(api_key="sk-t", max_retries=0).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
    assert "govproxy_requests_total" in text and 'provider="openai"' in text
    assert "sk-t" not in text


# --- shared state through real Redis --------------------------------------------------------


@pytest.fixture
def redis_url(tmp_path):
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(tmp_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(10)


def test_two_instances_share_circuit_state_through_redis(start_proxy, certs, cloud, app_env, redis_url):
    overrides = {"proxy": {"failover": True}, "state": {"backend": "redis", "redis_url": redis_url},
                 "routing": {"breaker": {"failures_to_open": 2, "cooldown_s": 60}, "failover": {"retry_backoff_s": 0.0}}}
    a = start_eu(start_proxy, cloud, overrides, name="a")
    b = start_eu(start_proxy, cloud, overrides, name="b")
    cloud.set_fault(kind="status", status=503, model="model-a")
    bundle_a = app_env(a, certs)
    for _ in range(3):
        eu_client(a, bundle_a).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])
    assert sum(r.json()["model"] == "model-a" for r in cloud.requests) == 2  # instance a opened the circuit
    cloud.reset()
    bundle_b = app_env(b, certs)
    for _ in range(3):
        eu_client(b, bundle_b).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "y"}])
    assert [r.json()["model"] for r in cloud.requests] == ["model-b"] * 3  # instance b never tried the open circuit


def test_two_instances_share_one_budget_through_redis(start_proxy, certs, cloud, app_env, redis_url):
    cfg = {"state": {"backend": "redis", "redis_url": redis_url}, "tenants": {"small": {"budget": {"daily_tokens": 30}}}}
    a = start_proxy(cfg, name="a")
    b = start_proxy(cfg, name="b")
    app_env(a, certs)
    openai.OpenAI(api_key="sk-t", max_retries=0, default_headers={"X-Govproxy-Tenant": "small"}).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "word " * 60}])
    app_env(b, certs)
    with pytest.raises(openai.PermissionDeniedError, match="budget"):
        openai.OpenAI(api_key="sk-t", max_retries=0, default_headers={"X-Govproxy-Tenant": "small"}).chat.completions.create(
            model="gpt-4o", messages=[{"role": "user", "content": "on the other instance"}])
    assert len(cloud.requests) == 1
