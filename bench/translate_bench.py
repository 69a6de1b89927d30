"""Translation cost: p50 per 4 KB non-streaming request+response, and added time-to-first-token.

Run: .venv/bin/python bench/translate_bench.py [--iterations N]

Targets (issue 6): ≤ 0.5 ms p50 per 4 KB request+response, ≤ 1 ms added to the first
token of a stream. Figures are printed beside a same-format baseline from the same run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from govproxy.models import ProviderKind as K
from govproxy.translate import StreamTranslator, translate_request, translate_response

TOOL = {
    "type": "function",
    "function": {
        "name": "lookup_order",
        "description": "Look up an order by id",
        "parameters": {
            "type": "object",
            "properties": {"order_id": {"type": "string"}},
            "required": ["order_id"],
        },
    },
}


def request_4k() -> dict:
    filler = "The customer asked about delivery windows and the refund policy for damaged goods. "
    messages = [
        {"role": "system", "content": "You are a helpful support agent. " + filler * 3}
    ]
    for i in range(9):
        messages.append({"role": "user", "content": f"Question {i}: " + filler * 2})
        messages.append({"role": "assistant", "content": f"Answer {i}: " + filler})
    messages.append(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_1",
                    "type": "function",
                    "function": {
                        "name": "lookup_order",
                        "arguments": '{"order_id":"A-1"}',
                    },
                }
            ],
        }
    )
    messages.append(
        {"role": "tool", "tool_call_id": "call_1", "content": '{"status":"shipped"}'}
    )
    body = {
        "model": "gpt-4o",
        "messages": messages,
        "tools": [TOOL],
        "temperature": 0.2,
        "max_tokens": 512,
    }
    return body


def response_4k() -> dict:
    text = (
        "Your order A-1 has shipped and should arrive within three business days. " * 50
    )
    return {
        "id": "msg_01",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": [{"type": "text", "text": text[:3700]}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 900, "output_tokens": 700},
    }


def p50_us(fn: Callable[[], object], n: int) -> tuple[float, float]:
    for _ in range(min(200, n)):
        fn()
    samples = []
    for _ in range(n):
        t0 = time.perf_counter_ns()
        fn()
        samples.append(time.perf_counter_ns() - t0)
    samples.sort()
    return statistics.median(samples) / 1000, samples[int(len(samples) * 0.99)] / 1000


def first_token_stream() -> tuple[bytes, bytes]:
    head = (
        b'event: message_start\ndata: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant",'
        b'"content":[],"model":"claude-x","stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":25,"output_tokens":1}}}\n\n'
        b'event: content_block_start\ndata: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}\n\n'
        b'event: ping\ndata: {"type": "ping"}\n\n'
        b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}\n\n'
    )
    delta = b'event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" world, more tokens"}}\n\n'
    return head, delta


class Restorer:
    def feed(self, s: str) -> str:
        return s.replace("<P1>", "Alice")

    def flush(self) -> str:
        return ""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--iterations", type=int, default=5000)
    n = ap.parse_args().iterations
    req, resp = request_4k(), response_4k()
    req_raw, resp_raw = json.dumps(req).encode(), json.dumps(resp).encode()
    print(
        f"request body {len(req_raw)} B, response body {len(resp_raw)} B, {n} iterations"
    )

    def baseline() -> (
        None
    ):  # what the proxy does anyway: parse and re-serialise both bodies
        json.dumps(json.loads(req_raw))
        json.dumps(json.loads(resp_raw))

    def translated() -> None:
        tr = translate_request(
            json.loads(req_raw),
            K.OPENAI,
            K.ANTHROPIC,
            target_model="claude-x",
            stream=False,
        )
        json.dumps(tr.body)
        json.dumps(
            translate_response(
                json.loads(resp_raw), K.ANTHROPIC, K.OPENAI, requested_model="gpt-4o"
            )
        )

    def dict_only() -> None:
        translate_request(
            req, K.OPENAI, K.ANTHROPIC, target_model="claude-x", stream=False
        )
        translate_response(resp, K.ANTHROPIC, K.OPENAI, requested_model="gpt-4o")

    gem_req = translate_request(
        req, K.OPENAI, K.GEMINI, target_model="g", stream=False
    ).body
    gem_resp = translate_response(resp, K.ANTHROPIC, K.GEMINI, requested_model="g")

    def gemini_dict_only() -> None:
        translate_request(req, K.OPENAI, K.GEMINI, target_model="g", stream=False)
        translate_response(gem_resp, K.GEMINI, K.OPENAI, requested_model="gpt-4o")

    b50, b99 = p50_us(baseline, n)
    t50, t99 = p50_us(translated, n)
    d50, d99 = p50_us(dict_only, n)
    g50, g99 = p50_us(gemini_dict_only, n)
    print("\nnon-streaming, 4 KB request + 4 KB response (µs)        p50      p99")
    print(f"  baseline: json parse + serialise both              {b50:8.1f} {b99:8.1f}")
    print(f"  openai→anthropic→openai incl. JSON                 {t50:8.1f} {t99:8.1f}")
    print(
        f"  translation alone (added) openai⇄anthropic         {d50:8.1f} {d99:8.1f}   target ≤ 500"
    )
    print(
        f"  translation alone (added) openai⇄gemini            {g50:8.1f} {g99:8.1f}   target ≤ 500"
    )
    print(
        f"  added over baseline (incl. JSON)                   {t50 - b50:8.1f}            ratio {t50 / b50:.2f}x"
    )
    del gem_req

    head, delta = first_token_stream()

    def ttft(upstream: K, client: K, factory=None) -> Callable[[], object]:
        def run() -> object:
            st = StreamTranslator(
                upstream,
                client,
                requested_model="gpt-4o",
                text_transform_factory=factory,
            )
            out = st.feed(head)
            assert b"Hello" in out
            return out

        return run

    print(
        "\nstreaming: construct translator + feed first upstream chunk (message_start … first delta) (µs)"
    )
    base50, _ = p50_us(ttft(K.ANTHROPIC, K.ANTHROPIC), n)
    print(f"  passthrough (same format, no transform)            {base50:8.1f}")
    for label, up, cl, fac in [
        ("anthropic → openai", K.ANTHROPIC, K.OPENAI, None),
        ("anthropic → gemini", K.ANTHROPIC, K.GEMINI, None),
        ("anthropic → openai with restore transform", K.ANTHROPIC, K.OPENAI, Restorer),
        (
            "anthropic → anthropic with restore transform",
            K.ANTHROPIC,
            K.ANTHROPIC,
            Restorer,
        ),
    ]:
        m50, m99 = p50_us(ttft(up, cl, fac), n)
        print(f"  {label:<50} {m50:8.1f} p99 {m99:7.1f}   target ≤ 1000")

    st = StreamTranslator(
        K.ANTHROPIC, K.OPENAI, requested_model="gpt-4o", text_transform_factory=Restorer
    )
    st.feed(head)
    per_delta, _ = p50_us(lambda: st.feed(delta), n)
    print(f"  per later delta event (anthropic → openai, restore) {per_delta:7.1f}")


if __name__ == "__main__":
    main()
