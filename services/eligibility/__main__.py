"""`python -m rarematch.eligibility`: run the eligibility service, settings from the environment."""

from __future__ import annotations

import threading

from rarematch.common.health import Health
from rarematch.common.logging import get_logger
from rarematch.common.service import run_service, settings_from_env
from rarematch.common.settings import EligibilitySettings
from rarematch.eligibility.adapters.rules_watcher import watch_rules
from rarematch.eligibility.bootstrap import SERVICE, bootstrap
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.notifier.adapters.routing_file import routing_env_names

__all__ = ["main"]


def main(settings: EligibilitySettings | None = None) -> None:
    # A shared environment may hold the secrets routing.yaml names; they are known names too.
    settings = settings or settings_from_env(
        EligibilitySettings, lambda loaded: routing_env_names(loaded.rules_dir)
    )

    def start(stop: threading.Event, health: Health) -> None:
        loop, store = bootstrap(settings, health=health)
        get_logger().info(
            "rules_loaded",
            rules_version=store.current().version,
            programs=len(store.current().programs),
        )
        watcher = threading.Thread(
            target=watch_rules,
            args=(store, settings.rules_dir, bundled_oncotree(), stop),
            name="rules-watcher",
            daemon=True,
        )
        watcher.start()
        loop.run(stop)

    endpoint = (settings.metrics_host, settings.eligibility_metrics_port)
    run_service(SERVICE, settings.log_level, endpoint, start)


if __name__ == "__main__":
    main()
