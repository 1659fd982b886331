"""The hot-reload watcher on a real directory: no edit can stop it, and an unchanged file
is not recompiled (no broker: the watcher and the rule store only)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import structlog
from prometheus_client import REGISTRY

from rarematch.common.located_yaml import MAX_BYTES
from rarematch.common.watch import Reload
from rarematch.eligibility.adapters import rules_watcher
from rarematch.eligibility.adapters.rules_watcher import watch_rules
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.rulebook.store import RuleStore, load_rules
from tests import waiting
from tests.hostile_yaml import alias_bomb, oversized
from tests.unit.test_rules_validation import _criterion, _deep_any, _program

REPO = Path(__file__).resolve().parents[2]
DEADLINE_S = 10.0
HOSTILE_DEADLINE_S = 5.0
"""A hostile file is refused as fast as any edit is applied: the watcher's 0.3 s debounce,
then milliseconds to refuse it (a 6 KB alias bomb used to take 30 s and 2.5 GB)."""


def reloads(result: Reload) -> float:
    return waiting.metric("rarematch_rules_reloads_total", result=result.value)


def wait_until(
    condition: Callable[[], bool], what: str, poke: Callable[[], None] | None = None
) -> None:
    waiting.wait_until(condition, DEADLINE_S, what, poke=poke, every_s=0.1)


class Watched:
    def __init__(self, rules_dir: Path, store: RuleStore) -> None:
        self.rules_dir, self.store = rules_dir, store
        self.file = rules_dir / "programs" / "watched.yaml"

    def write(self, text: str) -> None:
        self.file.write_text(text, encoding="utf-8")

    def edit_and_wait(self, text: str, result: Reload) -> None:
        before = reloads(result)
        self.write(text)
        wait_until(lambda: reloads(result) > before, f"a reload counted as {result.value}")


GOOD = _program(_criterion("adult", "    age: {min_years: 18}\n"))


@pytest.fixture
def watched(tmp_path: Path) -> Iterator[Watched]:
    rules_dir = tmp_path / "rules"
    (rules_dir / "programs").mkdir(parents=True)
    shutil.copy(REPO / "rules" / "routing.yaml", rules_dir)
    (rules_dir / "programs" / "watched.yaml").write_text(GOOD, encoding="utf-8")
    oncotree = bundled_oncotree()
    store = RuleStore(load_rules(rules_dir, oncotree))
    stop = threading.Event()
    thread = threading.Thread(
        target=watch_rules, args=(store, rules_dir, oncotree, stop), daemon=True
    )
    thread.start()
    state = Watched(rules_dir, store)
    # Ready once a touch of the unchanged file is seen: the watch is registered.
    before = reloads(Reload.UNCHANGED)
    wait_until(lambda: reloads(Reload.UNCHANGED) > before, "the watcher started", state.file.touch)
    yield state
    stop.set()
    thread.join(timeout=10)
    assert not thread.is_alive()
    store.current().engine.close()


def test_an_engine_refused_edit_is_rejected_and_the_watcher_keeps_applying_edits(
    watched: Watched,
) -> None:
    """Before: EngineError escaped the watcher thread; later good edits never applied."""
    serving = watched.store.current().version
    watched.edit_and_wait(_program(_criterion("deep", _deep_any(16))), Reload.REJECTED)
    assert watched.store.current().version == serving
    assert (REGISTRY.get_sample_value("rarematch_rules_errors") or 0) >= 1

    watched.edit_and_wait(GOOD.replace("min_years: 18", "min_years: 21"), Reload.APPLIED)
    assert watched.store.current().version != serving
    assert REGISTRY.get_sample_value("rarematch_rules_errors") == 0


def test_a_touched_but_unchanged_file_is_not_recompiled(
    watched: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    compiles: list[object] = []
    real = rules_watcher.compile_validated

    def counting(*args: object, **kwargs: object) -> object:
        compiles.append(args)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rules_watcher, "compile_validated", counting)
    serving = watched.store.current()
    watched.edit_and_wait(GOOD, Reload.UNCHANGED)
    assert compiles == []
    assert watched.store.current() is serving


def test_an_unexpected_error_is_logged_counted_and_survived(
    watched: Watched, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = rules_watcher.validate
    calls = {"n": 0}

    def broken_once(*args: object, **kwargs: object) -> object:
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("a defect of ours")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(rules_watcher, "validate", broken_once)
    watched.edit_and_wait(GOOD.replace("min_years: 18", "min_years: 30"), Reload.FAILED)
    watched.edit_and_wait(GOOD.replace("min_years: 18", "min_years: 40"), Reload.APPLIED)


@pytest.mark.parametrize(
    ("text", "where"),
    [
        pytest.param(alias_bomb(), ":5:153: alias *laugh_level_02 expands to", id="alias-bomb"),
        pytest.param(oversized(2 * MAX_BYTES), ":1:1: file is 2,097,152 bytes", id="oversized"),
    ],
)
def test_a_hostile_file_is_rejected_at_its_location_and_the_last_rules_keep_serving(
    watched: Watched, text: str, where: str
) -> None:
    serving = watched.store.current()
    hostile = watched.rules_dir / "programs" / "hostile.yaml"
    before = reloads(Reload.REJECTED)
    with structlog.testing.capture_logs() as logs:
        hostile.write_text(text, encoding="utf-8")
        waiting.wait_until(
            lambda: reloads(Reload.REJECTED) > before,
            HOSTILE_DEADLINE_S,
            "the hostile file rejected",
            every_s=0.05,
        )
    assert watched.store.current() is serving
    assert REGISTRY.get_sample_value("rarematch_rules_errors") == 1
    rejected = next(entry for entry in logs if entry["event"] == "rules_rejected")
    assert rejected["log_level"] == "error"
    assert rejected["serving_version"] == serving.version
    assert [e for e in rejected["errors"] if e.startswith(f"{hostile}{where}")], rejected

    # The watcher lives on: with the file removed, the next good edit is applied.
    hostile.unlink()
    watched.edit_and_wait(GOOD.replace("min_years: 18", "min_years: 19"), Reload.APPLIED)
    assert watched.store.current().version != serving.version
