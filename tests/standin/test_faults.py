"""Fault injection behaves as specified, set from Python and over the HTTP control API."""

from __future__ import annotations

import json
import socket
import threading
import time

import anthropic
import httpx
import openai
import pytest
from pydantic import ValidationError

from govproxy.standin import StandinClient, StandinServer

from .clients import anthropic_client, openai_client, raw_client

AUTH = {"authorization": "Bearer k"}


def chat_body(text: str = "hello world, this is a longer reply", stream: bool = False, model: str = "gpt-4o") -> dict:
    return {"model": model, "messages": [{"role": "user", "content": text}], "stream": stream}


def test_status_fault_for_next_k_requests_only(server: StandinServer) -> None:
    server.set_fault("status", status=503, times=2)
    with raw_client(server) as c:
        codes = [c.post("/v1/chat/completions", headers=AUTH, json=chat_body()).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    assert len(server.requests) == 3  # failed requests are recorded too


def test_fault_matches_path_prefix_and_model(server: StandinServer) -> None:
    server.set_fault("status", status=500, path_prefix="/v1/embeddings")
    server.set_fault("status", status=429, model="gpt-4.1")
    with raw_client(server) as c:
        emb = c.post("/v1/embeddings", headers=AUTH, json={"model": "m", "input": "x"})
        other = c.post("/v1/chat/completions", headers=AUTH, json=chat_body(model="gpt-4o"))
        matched = c.post("/v1/chat/completions", headers=AUTH, json=chat_body(model="gpt-4.1"))
    assert (emb.status_code, other.status_code, matched.status_code) == (500, 200, 429)


def test_clear_fault_by_id(server: StandinServer) -> None:
    fid = server.set_fault("status", status=500)
    server.clear_fault(fid)
    with raw_client(server) as c:
        assert c.post("/v1/chat/completions", headers=AUTH, json=chat_body()).status_code == 200


def test_hang_forever_times_out_the_client_without_blocking_others(server: StandinServer) -> None:
    server.set_fault("hang", model="slow-model")
    with raw_client(server, timeout=0.5) as c, pytest.raises(httpx.ReadTimeout):
        c.post("/v1/chat/completions", headers=AUTH, json=chat_body(model="slow-model"))
    # meanwhile the server answers everyone else at once
    with raw_client(server, timeout=2) as c:
        assert c.post("/v1/chat/completions", headers=AUTH, json=chat_body()).status_code == 200


def test_hang_then_answer_after_delay(server: StandinServer) -> None:
    server.set_fault("hang", delay=0.3, times=1)
    with raw_client(server) as c:
        t0 = time.monotonic()
        r = c.post("/v1/chat/completions", headers=AUTH, json=chat_body("late"))
        elapsed = time.monotonic() - t0
    assert r.status_code == 200 and r.json()["choices"][0]["message"]["content"] == "echo: late"
    assert elapsed >= 0.3


def test_reset_before_response(server: StandinServer) -> None:
    server.set_fault("reset", times=1)
    with raw_client(server) as c, pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        c.post("/v1/chat/completions", headers=AUTH, json=chat_body())
    assert len(server.requests) == 1
    with pytest.raises(openai.APIConnectionError):
        server.set_fault("reset", times=1)
        openai_client(server).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}])


def test_reset_mid_stream_after_k_chunks(server: StandinServer) -> None:
    server.configure(chunk_size=4)
    server.set_fault("reset_mid_stream", after_chunks=3, times=1)
    received: list[bytes] = []
    with raw_client(server) as c, pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        with c.stream("POST", "/v1/chat/completions", headers=AUTH, json=chat_body(stream=True)) as r:
            assert r.status_code == 200
            for chunk in r.iter_raw():
                received.append(chunk)
    data = b"".join(received)
    assert data.count(b"data: ") == 3
    assert b"[DONE]" not in data


def test_reset_mid_stream_seen_by_sdk_as_connection_error(server: StandinServer) -> None:
    server.set_fault("reset_mid_stream", after_chunks=2, path_prefix="/v1/chat")
    stream = openai_client(server).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "a reply long enough for several chunks"}], stream=True
    )
    got = []
    with pytest.raises((httpx.HTTPError, openai.APIError)):
        for chunk in stream:
            got.append(chunk)
    assert len(got) == 2


def test_reset_mid_body_for_non_streaming_response(server: StandinServer) -> None:
    server.set_fault("reset_mid_stream", after_chunks=1, times=1)
    with raw_client(server) as c, pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        c.post("/v1/chat/completions", headers=AUTH, json=chat_body())


def test_garbage_bytes(server: StandinServer) -> None:
    server.set_fault("garbage", times=1)
    with raw_client(server) as c, pytest.raises(httpx.RemoteProtocolError):
        c.post("/v1/chat/completions", headers=AUTH, json=chat_body())


def test_slow_first_byte_then_normal_answer(server: StandinServer) -> None:
    server.set_fault("slow_first_byte", delay=0.3, times=1)
    with raw_client(server) as c:
        t0 = time.monotonic()
        r = c.post("/v1/chat/completions", headers=AUTH, json=chat_body("x"))
        elapsed = time.monotonic() - t0
    assert r.status_code == 200 and elapsed >= 0.3


def test_invalid_fault_is_rejected_clearly() -> None:
    with StandinServer() as s:
        with pytest.raises(ValidationError):
            s.set_fault("status", status=200)
        with pytest.raises(ValidationError):
            s.set_fault("slow_first_byte")  # needs delay
        with pytest.raises(ValidationError):
            s.set_fault("explode")


def test_faults_over_http_control_api(server: StandinServer) -> None:
    ctl = StandinClient(server.url, ca_file=server.ca_file)
    fid = ctl.set_fault("status", status=429, retry_after=7, times=5)
    with raw_client(server) as c:
        r = c.post("/v1/chat/completions", headers=AUTH, json=chat_body())
    assert r.status_code == 429 and r.headers["retry-after"] == "7"
    with raw_client(server) as c:
        listed = c.get("/_standin/faults").json()["faults"]
        assert listed[0]["id"] == fid and listed[0]["remaining"] == 4
        bad = c.post("/_standin/faults", json={"kind": "status", "status": 99})
        assert bad.status_code == 422 and "status" in bad.json()["error"]
    ctl.clear_fault(fid)
    with raw_client(server) as c:
        assert c.post("/v1/chat/completions", headers=AUTH, json=chat_body()).status_code == 200


def test_stop_does_not_wait_for_hanging_requests() -> None:
    s = StandinServer().start()
    s.set_fault("hang")
    done = threading.Event()

    def hang() -> None:
        try:
            httpx.post(s.url + "/v1/chat/completions", headers=AUTH, json=chat_body(), timeout=30, trust_env=False)
        except httpx.HTTPError:
            pass
        done.set()

    threading.Thread(target=hang, daemon=True).start()
    deadline = time.monotonic() + 5
    while not s.requests and time.monotonic() < deadline:
        time.sleep(0.01)
    s.stop()
    assert done.wait(5), "client still blocked after server stop"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", s.port), timeout=1).close()


def test_stream_error_event_in_each_provider_format(server: StandinServer) -> None:
    server.configure(chunk_size=3)
    server.set_fault("stream_error", status=529, after_chunks=4, path_prefix="/v1/messages")
    client = anthropic_client(server)
    seen = []
    with pytest.raises(anthropic.APIStatusError) as info:
        for event in client.messages.create(
            model="claude-sonnet-4-6", max_tokens=32, stream=True, messages=[{"role": "user", "content": "abcdefghijkl"}]
        ):
            seen.append(event.type)
    assert "overloaded" in str(info.value).lower()
    assert seen[0] == "message_start" and "message_stop" not in seen

    server.set_fault("stream_error", status=500, after_chunks=2, path_prefix="/v1/chat")
    stream = openai_client(server).chat.completions.create(
        model="gpt-4o", messages=[{"role": "user", "content": "abcdefghijkl"}], stream=True
    )
    got = []
    with pytest.raises(openai.APIError):
        for chunk in stream:
            got.append(chunk)
    assert len(got) == 2

    server.set_fault("stream_error", status=503, after_chunks=1, path_prefix="/v1beta")
    body = {"contents": [{"parts": [{"text": "abcdefghijkl"}]}]}
    with raw_client(server) as c:
        sse = c.post("/v1beta/models/g:streamGenerateContent?alt=sse", headers={"x-goog-api-key": "k"}, json=body)
        arr = c.post("/v1beta/models/g:streamGenerateContent", headers={"x-goog-api-key": "k"}, json=body)
    last = sse.text.strip().split("\r\n\r\n")[-1]
    assert json.loads(last[6:])["error"]["status"] == "UNAVAILABLE"
    records = json.loads(arr.text)
    assert "candidates" in records[0] and records[-1]["error"]["code"] == 503


def test_stall_mid_stream_goes_silent_after_k_events(server: StandinServer) -> None:
    server.configure(chunk_size=4)
    server.set_fault("stall_mid_stream", after_chunks=3, times=1)
    got: list[bytes] = []
    with raw_client(server, timeout=httpx.Timeout(5, read=0.5)) as c:
        with pytest.raises(httpx.ReadTimeout):
            with c.stream("POST", "/v1/chat/completions", headers=AUTH, json=chat_body(stream=True)) as r:
                for chunk in r.iter_raw():
                    got.append(chunk)
    assert b"".join(got).count(b"data: ") == 3


def test_stall_with_delay_then_completes(server: StandinServer) -> None:
    server.set_fault("stall_mid_stream", after_chunks=1, delay=0.3, times=1)
    with raw_client(server) as c:
        t0 = time.monotonic()
        r = c.post("/v1/chat/completions", headers=AUTH, json=chat_body("abc", stream=True))
        elapsed = time.monotonic() - t0
    assert r.text.rstrip().endswith("data: [DONE]") and elapsed >= 0.3


def test_fault_matches_api_key(server: StandinServer) -> None:
    server.set_fault("status", status=429, api_key="sk-exhausted")
    with raw_client(server) as c:
        bad = c.post("/v1/chat/completions", headers={"authorization": "Bearer sk-exhausted"}, json=chat_body())
        good = c.post("/v1/chat/completions", headers={"authorization": "Bearer sk-fresh"}, json=chat_body())
        anthropic_bad = c.post(
            "/v1/messages",
            headers={"x-api-key": "sk-exhausted", "anthropic-version": "2023-06-01"},
            json={"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
        )
    assert (bad.status_code, good.status_code, anthropic_bad.status_code) == (429, 200, 429)
    assert anthropic_bad.json()["error"]["type"] == "rate_limit_error"


def test_config_over_http_validates_and_applies(server: StandinServer) -> None:
    ctl = StandinClient(server.url, ca_file=server.ca_file)
    assert ctl.configure(chunk_size=3, latency=0)["chunk_size"] == 3
    assert server.options.chunk_size == 3
    with raw_client(server) as c:
        bad = c.post("/_standin/config", json={"chunk_size": 0})
        unknown = c.post("/_standin/config", json={"no_such_knob": 1})
        missing = c.get("/_standin/nothing")
    assert bad.status_code == 422 and "chunk_size" in bad.json()["error"]
    assert unknown.status_code == 422
    assert missing.status_code == 404
