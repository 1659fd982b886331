"""Hot reload of `routing.yaml` in the notifier: the rules directory is validated exactly as the
eligibility service and `rules lint` validate it; a valid, changed routing file replaces the
dispatcher's routes, anything else leaves them in place."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

from rarematch.common import metrics
from rarematch.common.logging import get_logger
from rarematch.common.rule_errors import RuleError
from rarematch.common.watch import Reload, guarded_reload
from rarematch.eligibility.domain.oncotree import OncoTree
from rarematch.eligibility.rulebook.validate import RulesInvalid, validate
from rarematch.notifier.adapters.routing_file import ROUTING_FILE
from rarematch.notifier.dispatch import ChannelFactory, Dispatcher
from rarematch.notifier.domain.routing import Routing

__all__ = ["RoutingReloader", "load_valid_routing"]

_HINT = "fix the files; `rarematch rules lint` shows the same errors"


def load_valid_routing(rules_dir: Path, oncotree: OncoTree) -> tuple[Routing, str]:
    """The routing of a valid rules directory and its content hash; RulesInvalid otherwise."""
    validation = validate(rules_dir, oncotree)
    if validation.errors:
        raise RulesInvalid(validation.errors)
    if validation.routing is None:
        raise RulesInvalid([_missing(rules_dir)])
    routing_file = str(rules_dir / ROUTING_FILE)
    return validation.routing, _version(validation.sources[routing_file])


class RoutingReloader:
    def __init__(
        self,
        dispatcher: Dispatcher,
        rules_dir: Path,
        oncotree: OncoTree,
        build_channels: Callable[[Routing], ChannelFactory],
        version: str,
    ) -> None:
        self.dispatcher, self.rules_dir, self.oncotree = dispatcher, rules_dir, oncotree
        self.build_channels = build_channels
        self.version = version

    def reload(self) -> Reload:
        return guarded_reload(self._reload, lambda: self.version)

    def _reload(self) -> Reload:
        log = get_logger()
        try:
            routing, version = load_valid_routing(self.rules_dir, self.oncotree)
        except RulesInvalid as invalid:
            metrics.RULES_ERRORS.set(len(invalid.errors))
            log.error(
                "routing_rejected",
                errors=[str(e) for e in invalid.errors],
                serving_version=self.version,
                hint=_HINT,
            )
            return Reload.REJECTED
        metrics.RULES_ERRORS.set(0)
        if version == self.version:
            return Reload.UNCHANGED
        self.dispatcher.replace_routing(routing, self.build_channels(routing))
        log.info(
            "routing_reloaded",
            routing_version=version,
            previous_version=self.version,
            routes=len(routing.routes),
        )
        self.version = version
        return Reload.APPLIED


def _version(source: bytes) -> str:
    return "sha256:" + hashlib.sha256(source).hexdigest()[:16]


def _missing(rules_dir: Path) -> RuleError:
    return RuleError(
        str(rules_dir / ROUTING_FILE),
        1,
        1,
        "unreadable",
        "no routing file: coordinators' routes live there",
    )
