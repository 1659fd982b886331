"""/metrics, /healthz and /readyz on one port, on loopback unless a setting opens it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from rarematch.common import metrics  # noqa: F401 (registers the service's metrics)
from rarematch.common.endpoints import serve_endpoints
from rarematch.common.health import Health
from rarematch.common.settings import EligibilitySettings, NotifierSettings
from rarematch.ports import free_port


@pytest.fixture
def served() -> Iterator[tuple[str, Health]]:
    health = Health()
    server = serve_endpoints("127.0.0.1", free_port(), health)
    assert server is not None
    host, port = server.server_address[:2]
    try:
        yield f"http://{host}:{port}", health
    finally:
        server.shutdown()
        server.server_close()


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_ready_only_when_connected_with_rules_loaded(served: tuple[str, Health]) -> None:
    url, health = served
    status, body = get(f"{url}/readyz")
    assert status == 503
    assert json.loads(body) == {
        "ready": False,
        "alive": True,
        "rules_loaded": False,
        "kafka_connected": False,
    }
    health.rules_loaded = True
    health.connected = True
    status, body = get(f"{url}/readyz")
    assert (status, json.loads(body)["ready"]) == (200, True)
    health.connected = False  # the broker went away
    assert get(f"{url}/readyz")[0] == 503
    assert get(f"{url}/healthz")[0] == 200, "disconnected is not dead: do not restart it"


def test_not_alive_once_the_loop_has_ended(served: tuple[str, Health]) -> None:
    url, health = served
    health.beat()
    assert get(f"{url}/healthz")[0] == 200
    health.loop_ended()
    status, body = get(f"{url}/healthz")
    assert (status, json.loads(body)) == (503, {"alive": False})


def test_metrics_are_served_beside_them(served: tuple[str, Health]) -> None:
    url, _ = served
    status, body = get(f"{url}/metrics")
    assert status == 200
    assert b"rarematch_rules_errors" in body


def test_endpoints_bind_to_loopback_by_default() -> None:
    assert EligibilitySettings().metrics_host == "127.0.0.1"
    assert NotifierSettings().metrics_host == "127.0.0.1"


def test_port_zero_serves_nothing() -> None:
    assert serve_endpoints("127.0.0.1", 0, Health()) is None
