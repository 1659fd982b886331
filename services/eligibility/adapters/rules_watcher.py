"""Hot reload: watch `rules/`, validate and compile the whole set, then swap or keep the old one."""

from __future__ import annotations

import threading
from pathlib import Path

from watchfiles import watch

from rarematch.common import metrics
from rarematch.common.logging import get_logger
from rarematch.eligibility.domain.oncotree import OncoTree
from rarematch.eligibility.rulebook.store import RulesInvalid, RuleStore, load_rules

__all__ = ["reload_rules", "watch_rules"]


def reload_rules(store: RuleStore, rules_dir: Path, oncotree: OncoTree) -> bool:
    """Load and compile `rules_dir`; swap it in when valid, otherwise keep serving the old set."""
    log = get_logger()
    try:
        rules = load_rules(rules_dir, oncotree)
    except (RulesInvalid, OSError, ValueError) as error:
        errors = [str(e) for e in error.errors] if isinstance(error, RulesInvalid) else [str(error)]
        metrics.RULES_RELOADS.labels("rejected").inc()
        metrics.RULES_ERRORS.set(len(errors))
        log.error(
            "rules_rejected",
            errors=errors,
            serving_version=store.current().version,
            hint="fix the files; `rarematch rules lint` shows the same errors",
        )
        return False
    if rules.version == store.current().version:
        rules.engine.close()
        metrics.RULES_ERRORS.set(0)
        return False
    previous = store.current().version
    store.swap(rules)
    metrics.RULES_RELOADS.labels("applied").inc()
    metrics.RULES_ERRORS.set(0)
    metrics.set_rules_version(rules.version)
    log.info(
        "rules_reloaded",
        rules_version=rules.version,
        previous_version=previous,
        programs=len(rules.programs),
    )
    return True


def watch_rules(
    store: RuleStore, rules_dir: Path, oncotree: OncoTree, stop: threading.Event
) -> None:
    """Reload on every settled batch of file changes under `rules_dir`, until `stop` is set."""
    get_logger().info("rules_watch_started", rules_dir=str(rules_dir))
    for _changes in watch(rules_dir, stop_event=stop, debounce=300, raise_interrupt=False):
        reload_rules(store, rules_dir, oncotree)
