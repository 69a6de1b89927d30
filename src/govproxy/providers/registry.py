"""Which hosts are LLM APIs, and which configured provider each belongs to.

The registry is consulted on every new connection (to decide whether to intercept TLS)
and on every request (to name the provider), so lookups are dictionary hits, with one
suffix scan for wildcard hosts such as ``*.openai.azure.com``.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from govproxy.config import ProviderConfig


@dataclass(frozen=True, slots=True)
class ProviderMatch:
    name: str
    config: ProviderConfig


def base_url_authority(base_url: str) -> tuple[str, str, int, str]:
    """Split a base URL into (scheme, host, port, path prefix) with the scheme's default port."""
    parts = urlsplit(base_url)
    scheme = parts.scheme or "https"
    host = (parts.hostname or "").lower()
    port = parts.port or (443 if scheme == "https" else 80)
    return scheme, host, port, parts.path.rstrip("/")


class ProviderRegistry:
    """Maps (host, port) to the configured provider that serves it."""

    def __init__(self, providers: dict[str, ProviderConfig]) -> None:
        self.providers = providers
        self._exact: dict[tuple[str, int | None], ProviderMatch] = {}
        self._suffix: list[tuple[str, int | None, ProviderMatch]] = []
        for name, cfg in providers.items():
            match = ProviderMatch(name, cfg)
            hosts = list(cfg.hosts)
            if cfg.base_url:
                _, host, port, _ = base_url_authority(cfg.base_url)
                # A base URL on a non-default port (a local model) matches that port only.
                hosts.append(f"{host}:{port}")
            for entry in hosts:
                host, port = _split_host_port(entry)
                if host.startswith("*."):
                    self._suffix.append((host[1:], port, match))
                else:
                    self._exact.setdefault((host, port), match)

    def match(self, host: str, port: int | None = None) -> ProviderMatch | None:
        host = host.lower().rstrip(".")
        found = self._exact.get((host, port))
        if found is None:
            found = self._exact.get((host, None))
            # A bare host entry means the standard TLS/HTTP ports only.
            if found is not None and port not in (None, 80, 443):
                found = None
        if found is not None:
            return found
        for suffix, sport, match in self._suffix:
            if host.endswith(suffix) and (sport is None or sport == port):
                return match
        return None

    def is_llm_host(self, host: str, port: int | None = None) -> bool:
        return self.match(host, port) is not None


def _split_host_port(entry: str) -> tuple[str, int | None]:
    entry = entry.strip().lower()
    if entry.startswith("["):  # [v6]:port
        host, _, rest = entry[1:].partition("]")
        return host, int(rest[1:]) if rest.startswith(":") else None
    if entry.count(":") == 1:
        host, port = entry.split(":")
        return host, int(port)
    return entry, None
