"""A stream of generated hostile records of many kinds into the running eligibility service:
every one is dead-lettered once with a reason, the valid cases among them are matched, and the
service never exits."""

from __future__ import annotations

import json
import random
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from kafka import KafkaProducer

from rarematch.common.contracts import CASE_SUBMITTED, MATCH_DECIDED
from rarematch.common.contracts.cloudevents import WireRecord, encode
from rarematch.common.kafka.admin import ensure_topics
from rarematch.common.kafka.sizing import MAX_RECORD_BYTES
from rarematch.common.settings import EligibilitySettings
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from tests.faults.harness import (
    REPO,
    Row,
    ServiceProcess,
    all_records,
    committed,
    sized,
    wait_until,
)
from tests.synthetic import synthetic_cases

SEED = 7
Mutation = Callable[[random.Random, WireRecord, str], WireRecord]


def _body(record: WireRecord, text: str) -> WireRecord:
    return WireRecord(record.key, text.encode(), record.headers)


def _headers(record: WireRecord, **changes: bytes | None) -> WireRecord:
    kept = [(n, v) for n, v in record.headers if n not in changes]
    added = [(n, v) for n, v in changes.items() if v is not None]
    return WireRecord(record.key, record.value, tuple(kept + added))


def _case_json(record: WireRecord) -> dict[str, object]:
    return dict(json.loads(record.value or b"{}"))


HOSTILE: dict[str, Mutation] = {
    "bad_json": lambda rng, r, cid: _body(r, (r.value or b"").decode()[: rng.randint(1, 40)]),
    "binary_garbage": lambda rng, r, cid: WireRecord(r.key, rng.randbytes(64), r.headers),
    "not_an_object": lambda rng, r, cid: _body(r, rng.choice(["[]", "42", '"x"', "null"])),
    "deep_nesting": lambda rng, r, cid: _body(r, "[" * 5000 + "]" * 5000),
    "missing_headers": lambda rng, r, cid: _headers(r, ce_id=None, ce_type=None),
    "unknown_type": lambda rng, r, cid: _headers(r, ce_type=MATCH_DECIDED.encode()),
    "bad_content_type": lambda rng, r, cid: _headers(r, **{"content-type": b"text/plain"}),
    "bad_specversion": lambda rng, r, cid: _headers(r, ce_specversion=b"0.3"),
    "empty_body": lambda rng, r, cid: WireRecord(r.key, None, r.headers),
    "no_key": lambda rng, r, cid: WireRecord(None, r.value, r.headers),
    "key_mismatch": lambda rng, r, cid: WireRecord(b"Jane Doe", r.value, r.headers),
    "second_case_id": lambda rng, r, cid: _body(
        r, (r.value or b"").decode()[:-1] + ', "case_id": "case-other"}'
    ),
    "string_number": lambda rng, r, cid: _body(
        r, json.dumps({"case_id": cid, "age": {"years": "41"}})
    ),
    "bool_number": lambda rng, r, cid: _body(
        r, json.dumps({"case_id": cid, "age": {"years": True}})
    ),
    "infinity": lambda rng, r, cid: _body(
        r, f'{{"case_id": "{cid}", "biomarkers": {{"tmb_mut_per_mb": Infinity}}}}'
    ),
    "unknown_field": lambda rng, r, cid: _body(
        r, json.dumps({**_case_json(r), "patient_name": "x"})
    ),
    "unknown_oncotree": lambda rng, r, cid: _body(
        r, json.dumps({"case_id": cid, "diagnosis": {"oncotree_code": "ZZZZ"}})
    ),
    "non_ascii_hla": lambda rng, r, cid: _body(
        r, json.dumps({"case_id": cid, "hla_alleles": ["A*\u0660\u0662:\u0660\u0661"]})
    ),
    "over_the_limit": lambda rng, r, cid: _body(
        r, json.dumps({"case_id": cid, "x": "y" * (MAX_RECORD_BYTES + 10)})
    ),
}


def test_hostile_records_are_each_dead_lettered_and_the_service_goes_on(
    kafka_bootstrap: str, tmp_path: Path, reliability: list[Row]
) -> None:
    rng = random.Random(SEED)
    hostile_count, valid_count = sized(ci=1000, full=5000), sized(ci=100, full=500)
    valid_cases = synthetic_cases(valid_count, random.Random(SEED), bundled_oncotree())
    valid = [encode(CASE_SUBMITTED, c, key=c.case_id, source="/faults") for c in valid_cases]
    kinds = Counter[str]()
    stream: list[WireRecord] = []
    for index in range(hostile_count):
        kind = sorted(HOSTILE)[index % len(HOSTILE)]
        case_id = f"case-hostile-{index:05d}"
        base = encode(CASE_SUBMITTED, valid_cases[index % valid_count], key=case_id, source="/f")
        base = _body(base, json.dumps({**_case_json(base), "case_id": case_id}))
        stream.append(HOSTILE[kind](rng, base, case_id))
        kinds[kind] += 1
    stream += valid
    rng.shuffle(stream)

    run = uuid.uuid4().hex[:8]
    settings = EligibilitySettings(
        kafka_bootstrap=kafka_bootstrap,
        cases_topic=f"h{run}.cases",
        matches_topic=f"h{run}.matches",
        cases_dead_letter_topic=f"h{run}.cases.DLT",
        eligibility_group=f"hostile-{run}",
    )
    ensure_topics(settings)
    producer = KafkaProducer(
        bootstrap_servers=kafka_bootstrap, acks="all", max_request_size=4 * MAX_RECORD_BYTES
    )
    sent = 0
    for record in stream:
        if len(record.value or b"") > MAX_RECORD_BYTES:
            continue  # the broker refuses these at the door: nothing reaches the service
        producer.send(
            settings.cases_topic, key=record.key, value=record.value, headers=list(record.headers)
        )
        sent += 1
    producer.flush()
    producer.close()
    refused_at_the_door = len(stream) - sent
    env = {
        "RAREMATCH_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "RAREMATCH_CASES_TOPIC": settings.cases_topic,
        "RAREMATCH_MATCHES_TOPIC": settings.matches_topic,
        "RAREMATCH_CASES_DEAD_LETTER_TOPIC": settings.cases_dead_letter_topic,
        "RAREMATCH_ELIGIBILITY_GROUP": settings.eligibility_group,
        "RAREMATCH_RULES_DIR": str(REPO / "rules"),
        "RAREMATCH_ELIGIBILITY_METRICS_PORT": "0",
    }
    service = ServiceProcess("eligibility", env, tmp_path / "eligibility.log")
    service.start()
    try:
        wait_until(
            lambda: committed(kafka_bootstrap, settings.eligibility_group) >= sent,
            240,
            "every record committed",
        )
        service.check_alive()
    finally:
        service.stop()

    hostile_sent = sent - valid_count
    letters = all_records(kafka_bootstrap, settings.cases_dead_letter_topic, hostile_sent)
    reasons = Counter(dict(r.headers)["dlq_reason"].decode() for r in letters)
    matched = {r.key for r in all_records(kafka_bootstrap, settings.matches_topic, 1)}
    expected_valid_keys = {r.key for r in valid}
    reliability.append(
        Row(
            "eligibility: generated hostile records",
            sent=sent,
            expected=hostile_sent,
            received=len(letters),
            lost=max(hostile_sent - len(letters), 0),
            duplicated=max(len(letters) - hostile_sent, 0),
            crashes=service.self_exits,
            note=(
                f"{len(HOSTILE)} kinds, every one dead-lettered with a reason "
                f"({', '.join(f'{k} {v}' for k, v in sorted(reasons.items()))}); "
                f"{refused_at_the_door} over 1 MiB refused by the broker; "
                f"{valid_count} valid cases interleaved, all evaluated"
            ),
        )
    )
    assert len(letters) == hostile_sent, "one dead letter per hostile record"
    assert all(dict(r.headers).get("dlq_error") for r in letters)
    assert matched <= expected_valid_keys, "a hostile record was matched"
    assert service.self_exits == 0
    assert committed(kafka_bootstrap, settings.eligibility_group) >= sent
