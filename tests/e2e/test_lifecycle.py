"""Decisions over time on the real broker: only changes are published, with why; revocations
name what changed; a rule edit publishes exactly what `rules impact` predicted."""

from __future__ import annotations

import json
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rarematch.authoring import rules_app
from rarematch.common.contracts import Case
from rarematch.common.settings import EligibilitySettings
from rarematch.eligibility.adapters.rules_watcher import watch_rules
from rarematch.eligibility.bootstrap import bootstrap
from rarematch.eligibility.domain.impact import Impact, impact, stored_state
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.handlers import Eligibility
from rarematch.eligibility.rulebook.store import RuleStore, load_rules
from rarematch.publish import publish_cases
from tests.e2e.conftest import CASES, RULES, running
from tests.faults.harness import all_records, committed

pytestmark = pytest.mark.kafka

SARCOMA = CASES / "sarcoma-synovial-hla-a0201.json"
TECELRA = "programs/TECELRA-US-afami-cel.yaml"
NOUS = "programs/NCT05078866-nous-209-lynch.yaml"


@dataclass
class Live:
    settings: EligibilitySettings
    store: RuleStore
    eligibility: Eligibility
    rules_dir: Path

    def matches(self, at_least: int = 1) -> list[dict[str, Any]]:
        """Every committed match event: at least `at_least`, and then whatever else is there
        (read until a further second brings nothing new)."""
        records = all_records(self.settings.kafka_bootstrap, self.settings.matches_topic, at_least)
        return [json.loads(r.value) for r in records]

    def committed(self) -> int:
        return committed(self.settings.kafka_bootstrap, self.settings.eligibility_group)


@pytest.fixture
def live(kafka_bootstrap: str, tmp_path: Path) -> Iterator[Live]:
    """The eligibility service on fresh topics, serving a copy of the shipped rules, with
    the rules watcher running as in the service."""
    rules_dir = tmp_path / "rules"
    shutil.copytree(RULES, rules_dir)
    run = f"l{uuid.uuid4().hex[:8]}"
    settings = EligibilitySettings(
        kafka_bootstrap=kafka_bootstrap,
        cases_topic=f"{run}.cases",
        case_state_topic=f"{run}.case-state",
        decision_state_topic=f"{run}.decision-state",
        matches_topic=f"{run}.matches",
        case_summaries_topic=f"{run}.case-summaries",
        cases_dead_letter_topic=f"{run}.cases.DLT",
        matches_dead_letter_topic=f"{run}.matches.DLT",
        eligibility_group=f"lifecycle-{run}",
        rules_dir=rules_dir,
    )
    loop, store = bootstrap(settings)
    assert isinstance(loop.transaction, Eligibility)
    stop = threading.Event()
    watcher = threading.Thread(
        target=watch_rules, args=(store, rules_dir, bundled_oncotree(), stop), daemon=True
    )
    watcher.start()
    with running(loop):
        yield Live(settings, store, loop.transaction, rules_dir)
    stop.set()
    watcher.join(timeout=10)


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def submit(live: Live, files: list[Path], event: str = "submitted") -> None:
    before = live.committed()
    publish_cases(files, live.settings.kafka_bootstrap, live.settings.cases_topic, event)
    wait_for(lambda: live.committed() >= before + len(files), f"{len(files)} {event} committed")


def case_file(tmp_path: Path, name: str, **changes: Any) -> Path:
    data = {**json.loads(SARCOMA.read_text()), **changes}
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def of(events: list[dict[str, Any]], program_id: str) -> list[dict[str, Any]]:
    return [e for e in events if e["program_id"] == program_id]


def test_an_update_that_makes_a_case_ineligible_revokes_naming_the_failing_criterion(
    live: Live, tmp_path: Path
) -> None:
    submit(live, [SARCOMA])
    submit(live, [case_file(tmp_path, "aged-16.json", age={"years": 16})], "updated")
    events = live.matches()
    tecelra = of(events, "TECELRA-US")
    assert [(e["outcome"], e["change"], e.get("previous_outcome")) for e in tecelra] == [
        ("eligible", "new", None),
        ("revoked", "fails_criterion", "eligible"),
    ]
    revoked = tecelra[1]
    assert revoked.get("failing_criterion") == "age"
    assert [c["criterion_id"] for c in revoked["criteria"]] == ["age"]
    assert revoked["program_version"].startswith("sha256:")


def test_a_withdrawal_revokes_each_open_decision_and_a_resubmission_publishes_nothing(
    live: Live, tmp_path: Path
) -> None:
    case_id = json.loads(SARCOMA.read_text())["case_id"]
    submit(live, [SARCOMA])
    submit(live, [SARCOMA], "updated")  # identical: nothing to publish
    withdrawal = tmp_path / "withdrawn.json"
    withdrawal.write_text(json.dumps({"case_id": case_id, "reason": "enrolled"}))
    submit(live, [withdrawal], "withdrawn")
    events = live.matches()
    opened = [e for e in events if e["change"] == "new"]
    revoked = [e for e in events if e["change"] == "case_withdrawn"]
    assert opened, "the sample case has open decisions"
    assert len(events) == 2 * len(opened), "the identical resubmission published nothing"
    assert sorted((e["program_id"], e["outcome"]) for e in opened) == sorted(
        (e["program_id"], e.get("previous_outcome")) for e in revoked
    )
    assert {e["outcome"] for e in revoked} == {"revoked"}


def test_rule_edits_publish_only_what_impact_predicted_and_closing_revokes(
    live: Live, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cases = sorted(CASES.glob("*.json"))
    submit(live, cases)
    active = [Case.model_validate_json(p.read_text()) for p in cases]
    shipped = load_rules(live.rules_dir, bundled_oncotree())
    try:
        opened = sum(len(stored_state(c, shipped, datetime.now(UTC)).open) for c in active)
    finally:
        shipped.engine.close()
    before = live.matches(opened)
    assert len(before) == opened

    def edit(path: str, old: str, new: str) -> list[tuple[str, str, str, str]]:
        """Apply one edit to the live rules; return what impact predicts for it."""
        proposed = tmp_path / f"proposed-{uuid.uuid4().hex[:6]}"
        shutil.copytree(live.rules_dir, proposed)
        text = (proposed / path).read_text()
        assert old in text
        (proposed / path).write_text(text.replace(old, new, 1))
        base_rules = load_rules(live.rules_dir, bundled_oncotree())
        proposed_rules = load_rules(proposed, bundled_oncotree())
        try:
            predicted = impact(active, base_rules, proposed_rules, datetime.now(UTC))
        finally:
            base_rules.engine.close()
            proposed_rules.engine.close()
        from_topic = impact_from_topic(live, proposed, monkeypatch)
        assert from_topic == _predicted(predicted), "--from-topic reads the same active cases"
        version = live.store.current().version
        (live.rules_dir / path).write_text((proposed / path).read_text())
        wait_for(lambda: live.store.current().version != version, "the reload")
        wait_for(
            lambda: (
                live.eligibility._planned_for == live.store.current().version
                and not live.eligibility.busy()
            ),
            "the re-match",
        )
        return _predicted(predicted)

    # 1. a corrected criterion: the adult-only label becomes 40+ (the sarcoma case is 34)
    seen = len(before)
    predicted = edit(TECELRA, "min_years: 18", "min_years: 40")
    assert predicted, "the edit changes something"
    published = since(before, live.matches(seen + len(predicted)))
    assert sorted(_key(e) for e in published) == predicted
    assert all(e["program_version"] for e in published)
    # 2. a program closes: each of its open matches is revoked, nothing else
    seen += len(published)
    open_nous = {e["case_id"] for e in before if e["program_id"] == "NCT05078866"}
    assert open_nous, "the sample cases have open Nous-209 decisions"
    predicted = edit(NOUS, "status: recruiting", "status: closed")
    everything = live.matches(seen + len(predicted))
    published = since(before + published, everything)
    assert sorted(_key(e) for e in published) == predicted
    assert {(e["case_id"], e["change"]) for e in published} == {
        (case_id, "program_closed") for case_id in open_nous
    }


def impact_from_topic(
    live: Live, proposed: Path, monkeypatch: pytest.MonkeyPatch
) -> list[tuple[str, str, str, str]]:
    """`rarematch rules impact --from-topic --format json`, as a rule author runs it."""
    monkeypatch.setenv("RAREMATCH_KAFKA_BOOTSTRAP", live.settings.kafka_bootstrap)
    monkeypatch.setenv("RAREMATCH_CASE_STATE_TOPIC", live.settings.case_state_topic)
    monkeypatch.setenv("RAREMATCH_DECISION_STATE_TOPIC", live.settings.decision_state_topic)
    args = ["impact", str(proposed), "--base", str(live.rules_dir), "--from-topic"]
    result = CliRunner().invoke(rules_app, [*args, "--format", "json"])
    assert result.exit_code == 1, result.output  # 1: something changes
    report = json.loads(result.stdout)
    rows = []
    for program in report["programs"]:
        pid = program["program_id"]
        rows += [(c, pid, "eligible", "new") for c in program["newly_eligible"]]
        rows += [(c, pid, "needs_info", "new") for c in program["newly_needs_info"]]
        rows += [
            (c["case_id"], pid, c["outcome"], c["reason"])
            for c in [*program["revoked"], *program["changed"]]
        ]
    return sorted(rows)


def since(earlier: list[dict[str, Any]], events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`events` not in `earlier` (partitions interleave, so not a slice)."""
    seen = {json.dumps(e, sort_keys=True) for e in earlier}
    return [e for e in events if json.dumps(e, sort_keys=True) not in seen]


def _predicted(predicted: Impact) -> list[tuple[str, str, str, str]]:
    """The match events `rules impact` says the service will publish, as _key gives them."""
    rows = []
    for program in predicted.programs:
        rows += [(c, program.program_id, "eligible", "new") for c in program.newly_eligible]
        rows += [(c, program.program_id, "needs_info", "new") for c in program.newly_needs_info]
        rows += [
            (c, program.program_id, change.outcome.value, change.reason.value)
            for c, change in [*program.revoked, *program.changed]
        ]
    return sorted(rows)


def _key(event: dict[str, Any]) -> tuple[str, str, str, str]:
    return (event["case_id"], event["program_id"], event["outcome"], event["change"])
