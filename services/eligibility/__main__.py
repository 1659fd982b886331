"""`python -m eligibility`: run the eligibility service with settings from the environment."""

from __future__ import annotations

import threading

from eligibility.adapters.rules_watcher import watch_rules
from eligibility.bootstrap import SERVICE, bootstrap
from eligibility.domain.oncotree import bundled_oncotree
from rarematch_common.logging import get_logger
from rarematch_common.service import run_service
from rarematch_common.settings import EligibilitySettings

__all__ = ["main"]


def main(settings: EligibilitySettings | None = None) -> None:
    settings = settings or EligibilitySettings()

    def start(stop: threading.Event) -> None:
        loop, store = bootstrap(settings)
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

    run_service(SERVICE, settings.log_level, settings.eligibility_metrics_port, start)


if __name__ == "__main__":
    main()
