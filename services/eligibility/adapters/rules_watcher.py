"""Hot reload of the eligibility service: validate and compile the whole rules directory,
then swap it in, or keep serving the old set (rarematch.common.watch keeps the watch alive)."""

from __future__ import annotations

import functools
import threading
from pathlib import Path

from rarematch.common import metrics
from rarematch.common.logging import get_logger
from rarematch.common.watch import Reload, guarded_reload, watch_directory
from rarematch.eligibility.domain.oncotree import OncoTree
from rarematch.eligibility.rulebook.store import RulesInvalid, RuleStore, compile_validated
from rarematch.eligibility.rulebook.validate import validate

__all__ = ["reload_rules", "watch_rules"]

_HINT = "fix the files; `rarematch rules lint` shows the same errors"


def reload_rules(store: RuleStore, rules_dir: Path, oncotree: OncoTree) -> Reload:
    """Validate `rules_dir`; compile and swap it in when valid and changed, else keep serving."""
    return guarded_reload(
        functools.partial(_reload, store, rules_dir, oncotree), lambda: store.current().version
    )


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
    watch_directory(rules_dir, stop, lambda: reload_rules(store, rules_dir, oncotree))
