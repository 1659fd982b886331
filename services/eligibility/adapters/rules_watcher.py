"""Hot reload: watch `rules/`, validate and compile the whole set, then swap or keep the old one.

Nothing a rule author writes can stop the watcher: every failure is logged, counted and
leaves the serving rule set in place, and the watch itself is restarted if it breaks.
"""

from __future__ import annotations

import threading
from enum import StrEnum
from pathlib import Path

from watchfiles import watch

from rarematch.common import metrics
from rarematch.common.logging import get_logger
from rarematch.eligibility.domain.oncotree import OncoTree
from rarematch.eligibility.rulebook.store import RulesInvalid, RuleStore, compile_validated
from rarematch.eligibility.rulebook.validate import validate

__all__ = ["Reload", "reload_rules", "watch_rules"]

_RESTART_DELAY_S = 1.0
_HINT = "fix the files; `rarematch rules lint` shows the same errors"


class Reload(StrEnum):
    """The result label of `rarematch_rules_reloads_total`."""

    APPLIED = "applied"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"
    FAILED = "failed"
    """Not the files' fault: an error of ours, logged by type."""


def reload_rules(store: RuleStore, rules_dir: Path, oncotree: OncoTree) -> Reload:
    """Validate `rules_dir`; compile and swap it in when valid and changed, else keep serving."""
    try:
        result = _reload(store, rules_dir, oncotree)
    except Exception as error:  # the watcher must outlive any defect of ours
        get_logger().exception(
            "rules_reload_failed",
            error_type=type(error).__name__,
            serving_version=store.current().version,
        )
        metrics.RULES_ERRORS.set(1)
        result = Reload.FAILED
    metrics.RULES_RELOADS.labels(result.value).inc()
    return result


def _reload(store: RuleStore, rules_dir: Path, oncotree: OncoTree) -> Reload:
    log = get_logger()
    validation = validate(rules_dir, oncotree)
    serving = store.current().version
    if validation.rule_set is not None and validation.rule_set.version == serving:
        metrics.RULES_ERRORS.set(0)
        log.info("rules_unchanged", rules_version=serving)
        return Reload.UNCHANGED
    try:
        rules = compile_validated(validation, oncotree)
    except RulesInvalid as invalid:
        metrics.RULES_ERRORS.set(len(invalid.errors))
        log.error(
            "rules_rejected",
            errors=[str(e) for e in invalid.errors],
            serving_version=serving,
            hint=_HINT,
        )
        return Reload.REJECTED
    store.swap(rules)
    metrics.RULES_ERRORS.set(0)
    metrics.set_rules_version(rules.version)
    log.info(
        "rules_reloaded",
        rules_version=rules.version,
        previous_version=serving,
        programs=len(rules.programs),
    )
    return Reload.APPLIED


def watch_rules(
    store: RuleStore, rules_dir: Path, oncotree: OncoTree, stop: threading.Event
) -> None:
    """Reload on every settled batch of file changes under `rules_dir`, until `stop` is set."""
    log = get_logger()
    while not stop.is_set():
        log.info("rules_watch_started", rules_dir=str(rules_dir))
        try:
            for _changes in watch(rules_dir, stop_event=stop, debounce=300, raise_interrupt=False):
                reload_rules(store, rules_dir, oncotree)
        except Exception as error:  # e.g. the directory was removed: wait, then watch again
            log.error(
                "rules_watch_failed", error_type=type(error).__name__, rules_dir=str(rules_dir)
            )
            stop.wait(_RESTART_DELAY_S)
