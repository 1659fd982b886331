"""`python -m rarematch.notifier [--dry-run]`: run the notifier, settings from the environment."""

from __future__ import annotations

import sys
import threading
import uuid

from rarematch.common.health import Health
from rarematch.common.service import run_service, settings_from_env
from rarematch.common.settings import NotifierSettings
from rarematch.common.watch import watch_directory
from rarematch.notifier.adapters.memory_store import MemoryStore
from rarematch.notifier.adapters.print_channel import PrintChannel
from rarematch.notifier.adapters.routing_file import routing_env_names
from rarematch.notifier.bootstrap import SERVICE, bootstrap
from rarematch.notifier.dispatch import ChannelFactory
from rarematch.notifier.domain.routing import Routing
from rarematch.notifier.ports import Channel

__all__ = ["main"]


def main(settings: NotifierSettings | None = None, dry_run: bool = False) -> None:
    """Deliver alerts; with `dry_run`, print them instead, remember nothing, commit nothing
    that matters (a throw-away consumer group reads the topic from the start)."""
    settings = settings or settings_from_env(
        NotifierSettings, lambda loaded: routing_env_names(loaded.rules_dir)
    )
    if dry_run:
        settings = settings.model_copy(
            update={"notifier_group": f"{settings.notifier_group}-dry-run-{uuid.uuid4().hex[:8]}"}
        )

    def start(stop: threading.Event, health: Health) -> None:
        if dry_run:
            loop, reloader = bootstrap(
                settings, channels=_printers, store=MemoryStore(), health=health
            )
        else:
            loop, reloader = bootstrap(settings, health=health)
        watcher = threading.Thread(
            target=watch_directory,
            args=(settings.rules_dir, stop, reloader.reload),
            name="routing-watcher",
            daemon=True,
        )
        watcher.start()
        loop.run(stop)

    endpoint = (settings.metrics_host, settings.notifier_metrics_port)
    run_service(SERVICE, settings.log_level, endpoint, start)


def _printers(routing: Routing) -> ChannelFactory:
    def printer(route: str, channel: str) -> Channel:
        targets = ", ".join(routing.routes[route].email) if channel == "email" else channel
        return PrintChannel(channel, route, targets)

    return printer


if __name__ == "__main__":
    main(dry_run="--dry-run" in sys.argv[1:])
