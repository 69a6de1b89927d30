from __future__ import annotations

from pathlib import Path

import pytest

from govproxy.config import ConfigError, load_settings, settings_from_dict
from govproxy.routing.config import load_routing_settings


def test_defaults_are_usable_without_any_section() -> None:
    rs = load_routing_settings(settings_from_dict({}))
    assert rs.state.backend == "sqlite"
    assert rs.metrics is None  # metrics are opt-in
    assert rs.routing.failover.fails_over_on_status(429)
    assert rs.routing.failover.fails_over_on_status(503)
    assert not rs.routing.failover.fails_over_on_status(400)
    assert not rs.routing.failover.fails_over_on_status(404)


def test_yaml_sections_are_read(tmp_path: Path) -> None:
    path = tmp_path / "govproxy.yaml"
    path.write_text(
        "routing:\n"
        "  weights: {cost: 3, latency: 0}\n"
        "  breaker: {failures_to_open: 2, cooldown_s: 5}\n"
        "  failover: {max_attempts: 4, failover_on: [connect_error, 502]}\n"
        "  retry_after_cap_s: 2\n"
        "state: {backend: redis, redis_url: 'redis://127.0.0.1:6390/1'}\n"
        "metrics: {port: 9999}\n"
    )
    rs = load_routing_settings(load_settings(path), source=str(path))
    assert rs.routing.weights.cost == 3 and rs.routing.weights.latency == 0
    assert rs.routing.breaker.failures_to_open == 2
    assert rs.routing.failover.fails_over_on_status(502)
    assert not rs.routing.failover.fails_over_on_status(503)
    assert rs.state.backend == "redis"
    assert rs.metrics is not None and rs.metrics.port == 9999 and rs.metrics.host == "127.0.0.1"


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"routing": {"weights": {"cost": -1}}}, "routing.weights.cost"),
        ({"routing": {"breaker": {"failures_to_opn": 3}}}, "routing.breaker.failures_to_opn"),
        ({"routing": {"failover": {"failover_on": ["teapot"]}}}, "routing.failover.failover_on"),
        ({"state": {"backend": "redis"}}, "needs redis_url or redis_url_env"),
        ({"state": {"backend": "memcached"}}, "state.backend"),
        ({"metrics": {"port": 70000}}, "metrics.port"),
        ({"routing": {"weights": {"cost": 0, "latency": 0, "health": 0, "quality": 0}}}, "at least one score weight"),
    ],
)
def test_bad_values_name_the_key(raw: dict, needle: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_routing_settings(settings_from_dict(raw, source="x.yaml"), source="x.yaml")  # settings_from_dict validates sections early
    assert needle in str(err.value)
    assert "x.yaml" in str(err.value)


def test_metrics_can_be_switched_off_explicitly() -> None:
    rs = load_routing_settings(settings_from_dict({"metrics": {"enabled": False, "port": 1234}}))
    assert rs.metrics is None
