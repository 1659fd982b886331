"""`python -m notifier`: run the notifier with settings from the environment."""

from __future__ import annotations

import threading

from notifier.bootstrap import SERVICE, bootstrap
from rarematch_common.service import run_service
from rarematch_common.settings import NotifierSettings

__all__ = ["main"]


def main(settings: NotifierSettings | None = None) -> None:
    settings = settings or NotifierSettings()

    def start(stop: threading.Event) -> None:
        bootstrap(settings).run(stop)

    run_service(SERVICE, settings.log_level, settings.notifier_metrics_port, start)


if __name__ == "__main__":
    main()
