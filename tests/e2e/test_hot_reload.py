"""Rule edits take effect while the service runs; a broken edit leaves the last good set live."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import REGISTRY

from rarematch.common.settings import EligibilitySettings
from rarematch.eligibility.adapters.rules_watcher import watch_rules
from rarematch.eligibility.bootstrap import bootstrap
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.rulebook.store import RuleStore
from rarematch.publish import publish_cases
from tests.e2e.conftest import CASES, RULES, read_topic, running
from tests.waiting import metric, wait_until

pytestmark = pytest.mark.kafka

RELOAD_DEADLINE_S = 5.0  # the product promise: an edit is live within 5 s
PROGRAM = """
id: reload-test-cd7
title: CD7 CAR-T (hot reload test)
area: rare_haematologic
modality: CAR-T
status: recruiting
source: test fixture
transcribed: 2026-11-27
inclusion:
  - id: diagnosis
    text: T-ALL or T-LBL
    diagnosis: {oncotree: [TLL]}
  - id: cd7
    text: CD7 on >= 70% of blasts
    antigen: {name: CD7, status: positive, min_percent: 70}
"""


@pytest.fixture
def live(kafka_bootstrap: str, tmp_path: Path) -> Iterator[tuple[EligibilitySettings, RuleStore]]:
    rules_dir = tmp_path / "rules"
    (rules_dir / "programs").mkdir(parents=True)
    shutil.copy(RULES / "routing.yaml", rules_dir)
    (rules_dir / "programs" / "reload-test.yaml").write_text(PROGRAM)
    run = uuid.uuid4().hex[:8]
    settings = EligibilitySettings(
        kafka_bootstrap=kafka_bootstrap,
        cases_topic=f"r{run}.cases",
        case_state_topic=f"r{run}.case-state",
        decision_state_topic=f"r{run}.decision-state",
        matches_topic=f"r{run}.matches",
        cases_dead_letter_topic=f"r{run}.cases.DLT",
        matches_dead_letter_topic=f"r{run}.matches.DLT",
        eligibility_group=f"reload-{run}",
        rules_dir=rules_dir,
    )
    loop, store = bootstrap(settings)
    stop = threading.Event()
    watcher = threading.Thread(
        target=watch_rules, args=(store, rules_dir, bundled_oncotree(), stop), daemon=True
    )
    watcher.start()
    # The watcher is live once a touch of a program file counts as an unchanged reload.
    unchanged = reloads("unchanged")
    program = rules_dir / "programs" / "reload-test.yaml"
    wait_for(lambda: reloads("unchanged") > unchanged, "the watcher started", poke=program.touch)
    with running(loop):
        yield settings, store
    stop.set()
    watcher.join(timeout=10)


def cd7_decisions(settings: EligibilitySettings, count: int) -> list[dict[str, Any]]:
    def cd7(records: list[Any]) -> list[dict[str, Any]]:
        bodies = [json.loads(r.value) for r in records]
        return [b for b in bodies if b["program_id"] == "reload-test-cd7"]

    records = read_topic(
        settings.kafka_bootstrap, settings.matches_topic, lambda rs: len(cd7(rs)) >= count
    )
    return cd7(records)


def publish_t_all_case(settings: EligibilitySettings, case_id: str | None = None) -> None:
    """The T-ALL sample case, or the same under another case id (written next to the rules)."""
    path = CASES / "haematologic-t-all-cd7-unquantified.json"
    if case_id is not None:
        data = {**json.loads(path.read_text()), "case_id": case_id}
        path = settings.rules_dir.parent / f"{case_id}.json"
        path.write_text(json.dumps(data))
    publish_cases([path], settings.kafka_bootstrap, settings.cases_topic, "submitted")


def wait_for(
    predicate: Callable[[], object], what: str, poke: Callable[[], object] | None = None
) -> None:
    wait_until(predicate, RELOAD_DEADLINE_S, what, poke=poke, every_s=0.1)


def reloads(result: str) -> float:
    return metric("rarematch_rules_reloads_total", result=result)


def rejected_reloads() -> float:
    return reloads("rejected")


def test_edit_takes_effect_and_broken_edit_keeps_last_good_rules(
    live: tuple[EligibilitySettings, RuleStore],
) -> None:
    settings, store = live
    original = store.current().version
    publish_t_all_case(settings)
    [first] = cd7_decisions(settings, 1)
    assert first["outcome"] == "needs_info", "CD7 % of blasts is not reported"
    assert first["rules_version"] == original

    program_file = settings.rules_dir / "programs" / "reload-test.yaml"
    text = program_file.read_text()
    relaxed = text.replace(
        "antigen: {name: CD7, status: positive, min_percent: 70}",
        "antigen: {name: CD7, status: positive}",
    )
    program_file.write_text(relaxed)
    wait_for(lambda: store.current().version != original, "the edited rules were not loaded")
    edited = store.current().version

    # The active case is re-matched against the edited program: no resubmission needed.
    second = cd7_decisions(settings, 2)[1]
    assert second["outcome"] == "eligible"
    assert second["rules_version"] == edited
    assert (second["change"], second["previous_outcome"]) == ("outcome_changed", "needs_info")

    rejected_before = rejected_reloads()
    program_file.write_text(relaxed.replace("status: recruiting", "status: [recruiting"))
    wait_for(lambda: rejected_reloads() > rejected_before, "the broken edit was not rejected")
    assert store.current().version == edited, "a broken edit replaced the live rules"
    assert REGISTRY.get_sample_value("rarematch_rules_errors") == 1

    publish_t_all_case(settings, "case-tall-0002")  # a new case: decided by the edited rules
    [third] = [d for d in cd7_decisions(settings, 3) if d["case_id"] == "case-tall-0002"]
    assert third["outcome"] == "eligible"
    assert third["rules_version"] == edited
