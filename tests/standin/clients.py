"""Clients of every kind pointed at a stand-in: the official SDKs and raw httpx."""

from __future__ import annotations

import ssl
from pathlib import Path

import anthropic
import httpx
import httpx2
import openai

from govproxy.standin import StandinServer


def ca_context(server: StandinServer) -> ssl.SSLContext:
    assert server.ca_file is not None
    return ssl.create_default_context(cafile=str(server.ca_file))


def openai_client(server: StandinServer, **kw: object) -> openai.OpenAI:
    http = httpx.Client(verify=ca_context(server)) if server.tls else httpx.Client()
    kw.setdefault("api_key", "sk-test-key")
    kw.setdefault("max_retries", 0)
    return openai.OpenAI(base_url=server.url + "/v1", http_client=http, **kw)  # type: ignore[arg-type]


def anthropic_client(server: StandinServer, **kw: object) -> anthropic.Anthropic:
    http = httpx2.Client(verify=ca_context(server)) if server.tls else httpx2.Client()
    kw.setdefault("api_key", "sk-ant-test")
    kw.setdefault("max_retries", 0)
    return anthropic.Anthropic(base_url=server.url, http_client=http, **kw)  # type: ignore[arg-type]


def raw_client(server: StandinServer, **kw: object) -> httpx.Client:
    verify: ssl.SSLContext | bool = ca_context(server) if server.tls else False
    return httpx.Client(base_url=server.url, verify=verify, trust_env=False, **kw)  # type: ignore[arg-type]


def ca_path(server: StandinServer) -> Path:
    assert server.ca_file is not None
    return server.ca_file
