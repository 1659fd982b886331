"""One HTTP port per service: `/metrics` (Prometheus), `/healthz` (alive) and `/readyz`
(connected to Kafka, rules loaded). Bound to 127.0.0.1 unless a setting opens it."""

from __future__ import annotations

import json
import threading
from http.server import ThreadingHTTPServer

from prometheus_client import REGISTRY
from prometheus_client.exposition import MetricsHandler

from rarematch.common.health import Health

__all__ = ["serve_endpoints"]


def serve_endpoints(host: str, port: int, health: Health) -> ThreadingHTTPServer | None:
    """Serve in a daemon thread; port 0 disables the endpoint (returns None)."""
    if not port:
        return None
    server = ThreadingHTTPServer((host, port), _handler(health))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="endpoints", daemon=True).start()
    return server


def _handler(health: Health) -> type[MetricsHandler]:
    metrics = MetricsHandler.factory(REGISTRY)

    class Handler(metrics):  # type: ignore[misc, valid-type]
        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            path = self.path.split("?", 1)[0]
            if path == "/healthz":
                alive = health.alive()
                self._json(200 if alive else 503, {"alive": alive})
            elif path == "/readyz":
                readiness = health.readiness()
                self._json(
                    200 if readiness.ready else 503, {"ready": readiness.ready, **readiness.checks}
                )
            else:
                super().do_GET()

        def _json(self, status: int, body: dict[str, bool]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: object) -> None:
            return  # scrapes and probes are not news

    return Handler
