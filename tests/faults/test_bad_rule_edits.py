"""Bad rule edits while cases stream into the eligibility service (a real process): each is
rejected at its file:line:col, logged and counted, the service keeps deciding every case with
the last good rules, and the good edit after them is applied."""

from __future__ import annotations

import json
import random
import re
import shutil
import threading
import time
import urllib.request
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from rarematch.common.contracts import CASE_SUBMITTED
from rarematch.common.contracts.cloudevents import encode
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.eligibility.rulebook.validate import validate
from rarematch.ports import free_port
from tests.faults.harness import (
    REPO,
    Row,
    ServiceProcess,
    Stack,
    all_records,
    committed,
    decisions_published,
    sized,
    wait_until,
)
from tests.faults.test_broker_restart import probe_case, send_now
from tests.faults.test_eligibility_kills import expected_decisions, stream
from tests.hostile_yaml import alias_bomb
from tests.synthetic import synthetic_cases
from tests.unit.test_rules_validation import _criterion, _deep_any, _program

SEED = 2027
REJECT_DEADLINE_S = 10.0
"""Generous for a loaded machine; the measured seconds go into the report."""
EDITED = "NCT03373097-gd2-cart01.yaml"
SENTINEL = "pwned-by-a-rule-file"


@dataclass(frozen=True)
class BadEdit:
    name: str
    file: str
    """Under programs/; an existing file is restored afterwards, a new one removed."""
    text: str
    where: str
    """How the logged error begins after the path: `:line:col: message`."""


def bad_edits(programs: Path, sentinel: Path) -> list[BadEdit]:
    original = (programs / EDITED).read_text(encoding="utf-8")
    status_line = original.splitlines().index("status: closed") + 1
    title_line = next(
        n for n, line in enumerate(original.splitlines(), 1) if line.startswith("title:")
    )
    big_mb = sized(ci=2, full=20)
    pasted = "id: pasted\n# " + "x" * (big_mb * 1024 * 1024) + "\n"
    many_rules = [_criterion(f"c{n}", f"    age: {{min_years: {n % 90}}}\n") for n in range(60)]
    tagged = re.sub(
        r"^title: .*$",
        f"title: !!python/object/apply:os.system ['touch {sentinel}']",
        original,
        count=1,
        flags=re.MULTILINE,
    )
    return [
        BadEdit(
            "YAML syntax error",
            EDITED,
            original.replace("status: closed", "status: [closed"),
            f":{status_line + 1}:",
        ),
        BadEdit("6 KB alias bomb", "zz-alias-bomb.yaml", alias_bomb(), ":5:153: alias *laugh"),
        BadEdit("!!python/object/apply tag", EDITED, tagged, f":{title_line}:8: YAML tag"),
        BadEdit(f"{big_mb} MB file", "zz-pasted.yaml", pasted, ":1:1: file is"),
        BadEdit(
            "criterion nested past the engine limit",
            "zz-deep.yaml",
            _program(_criterion("deep", _deep_any(16))),
            ":9:5: criterion 'deep' is too complex",
        ),
        BadEdit(
            "program over the engine's rule limit",
            "zz-large.yaml",
            _program(*many_rules),
            ":1:1: program is too large",
        ),
    ]


def replace(path: Path, text: str) -> None:
    """Write as editors do (a new file renamed over the old), so one edit is one change."""
    staging = path.parent.parent / f".{path.name}.tmp"
    staging.write_text(text, encoding="utf-8")
    staging.replace(path)


def reloads(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {
        sample.labels["result"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "rarematch_rules_reloads"
        for sample in family.samples
        if sample.name == "rarematch_rules_reloads_total"
    }


def counted(port: int, result: str, before: dict[str, float]) -> bool:
    try:
        return reloads(port).get(result, 0) > before.get(result, 0)
    except OSError:
        return False


def rejected_errors(log: Path) -> list[str]:
    errors: list[str] = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        if '"rules_rejected"' in line:
            errors += json.loads(line)["errors"]
    return errors


def test_bad_rule_edits_are_rejected_while_cases_stream_and_the_good_edit_applies(
    kafka_bootstrap: str, tmp_path: Path, reliability: list[Row]
) -> None:
    count = sized(ci=150, full=1000)
    cases = synthetic_cases(count, random.Random(SEED), bundled_oncotree())
    probe = probe_case(SEED)
    expected = {
        (d.case_id, d.program_id) for d in expected_decisions([*cases, probe], datetime.now(UTC))
    }
    records = [encode(CASE_SUBMITTED, c, key=c.case_id, source="/faults") for c in cases]
    rules_dir = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules_dir)
    programs = rules_dir / "programs"
    sentinel = tmp_path / SENTINEL
    edits = bad_edits(programs, sentinel)
    stack = Stack(kafka_bootstrap, uuid.uuid4().hex[:8])
    stack.create_topics()
    port = free_port()
    log = tmp_path / "eligibility.log"
    service = ServiceProcess(
        "eligibility", stack.env(rules_dir, RAREMATCH_ELIGIBILITY_METRICS_PORT=str(port)), log
    )
    service.start()
    streaming = threading.Thread(
        target=stream,
        args=(kafka_bootstrap, stack.cases, records, sized(ci=12, full=60)),
        daemon=True,
    )
    rejected_s: dict[str, float] = {}
    during_stream = 0
    recover: list[float] = []
    try:
        # The watcher is live once a touch counts as an unchanged reload.
        touch = (programs / EDITED).touch
        wait_until(lambda: counted(port, "unchanged", {}), 60, "the watcher started", poke=touch)
        streaming.start()
        for edit in edits:
            path = programs / edit.file
            original = path.read_text(encoding="utf-8") if path.exists() else None
            before = reloads(port)
            since = time.monotonic()
            replace(path, edit.text)
            wait_until(
                lambda b=before: counted(port, "rejected", b),  # type: ignore[misc]
                REJECT_DEADLINE_S,
                f"{edit.name} rejected",
            )
            rejected_s[edit.name] = time.monotonic() - since
            during_stream += streaming.is_alive()
            prefix = f"{path}{edit.where}"
            wait_until(
                lambda p=prefix: any(e.startswith(p) for e in rejected_errors(log)),  # type: ignore[misc]
                10,
                f"the log names {prefix}",
            )
            service.check_alive()
            before = reloads(port)
            if original is None:
                path.unlink()
            else:
                replace(path, original)
            wait_until(
                lambda b=before: counted(port, "unchanged", b),  # type: ignore[misc]
                REJECT_DEADLINE_S,
                f"{edit.name} reverted",
            )

        # The good edit: a new title changes the version, not the decisions.
        edited = programs / EDITED
        before = reloads(port)
        good = re.sub(
            r"^title: .*$",
            'title: "GD2-CART01 (title edited)"',
            edited.read_text(encoding="utf-8"),
            count=1,
            flags=re.MULTILINE,
        )
        since = time.monotonic()
        replace(edited, good)
        wait_until(lambda: counted(port, "applied", before), 60, "the good edit applied")
        recover.append(time.monotonic() - since)
        validation = validate(rules_dir, bundled_oncotree())
        assert validation.rule_set is not None
        new_version = validation.rule_set.version
        send_now(kafka_bootstrap, stack.cases, probe)

        def probe_decided_by_the_new_rules() -> bool:
            return any(
                r.key == probe.case_id.encode()
                and json.loads(r.value)["rules_version"] == new_version
                for r in all_records(kafka_bootstrap, stack.matches, 1, timeout_s=2)
            )

        wait_until(probe_decided_by_the_new_rules, 60, "the probe decided by the edited rules")
        streaming.join(timeout=300)
        group = stack.eligibility_group
        wait_until(lambda: committed(kafka_bootstrap, group) >= count + 1, 180, "all committed")
        service.check_alive()
    finally:
        service.stop()

    published = decisions_published(kafka_bootstrap, stack.matches, len(expected))
    distinct = set(published)
    slowest = max(rejected_s, key=rejected_s.__getitem__)
    reliability.append(
        Row(
            "eligibility: bad rule edits while cases stream",
            sent=count + 1,
            expected=len(expected),
            received=len(distinct & expected),
            lost=len(expected - distinct),
            duplicated=len(published) - len(distinct),
            crashes=service.self_exits,
            recover_s=recover,
            note=(
                f"{len(edits)} bad edits ({', '.join(rejected_s)}; {during_stream} of them "
                "while cases streamed), each rejected at its file:line:col in "
                f"{min(rejected_s.values()):.1f}-{max(rejected_s.values()):.1f} s (slowest: "
                f"{slowest}; written to counted, debounce 0.3 s included); recovery: the good "
                "edit written to applied (a case sent then is decided by the new version)"
            ),
        )
    )
    assert not sentinel.exists(), "a rule file ran a command"
    assert expected - distinct == set(), "decisions lost"
    assert distinct - expected == set(), "decisions nobody expected"
    assert service.self_exits == 0
