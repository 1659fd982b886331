"""Case and match contracts, and CloudEvents binary mode on the wire (encode / decode)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from rarematch.common.contracts import (
    CASE_SUBMITTED,
    CASE_SUMMARIZED,
    CASE_UPDATED,
    CASE_WITHDRAWN,
    EVENT_BODIES,
    MATCH_DECIDED,
    Case,
    CaseSummary,
    CaseWithdrawn,
    CriterionResult,
    CriterionStatus,
    MatchDecided,
    Outcome,
)
from rarematch.common.contracts.case import Age, PerformanceScore
from rarematch.common.contracts.cloudevents import (
    MAX_RECORD_BYTES,
    DecodeError,
    WireRecord,
    decode,
    encode,
)
from tests.builders import (
    DEFAULT_CASE_ID,
    TEST_SOURCE,
    header,
    make_case,
    wire_case,
    with_headers,
)

CASE_TYPES = frozenset({CASE_SUBMITTED, CASE_UPDATED, CASE_WITHDRAWN})


def body_record(
    body: dict[str, Any] | bytes, key: bytes | None = DEFAULT_CASE_ID.encode()
) -> WireRecord:
    """A well-formed case record whose JSON body is replaced by `body`."""
    template = wire_case(make_case())
    value = body if isinstance(body, bytes) else json.dumps(body).encode()
    return WireRecord(key, value, template.headers)


def decode_error(record: WireRecord, accept: frozenset[str] = CASE_TYPES) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        decode(record, accept)
    return caught.value


# --- Case validation ---------------------------------------------------------------------------


class TestAge:
    @pytest.mark.parametrize(
        ("age", "months"),
        [
            ({"years": 34}, 408),
            ({"months": 62}, 62),
            ({"years": 25, "months": 311}, 311),
            ({"years": 0, "months": 11}, 11),
            ({"years": 0}, 0),
        ],
    )
    def test_years_months_or_both_when_consistent(self, age: dict[str, int], months: int) -> None:
        assert Age.model_validate(age).in_months == months

    @pytest.mark.parametrize(
        "age",
        [
            {"years": 24, "months": 311},  # 311 months is 25 years
            {"years": 2, "months": 12},
            {},
            {"years": -1},
            {"years": 131},
            {"months": 1561},
        ],
    )
    def test_inconsistent_missing_or_out_of_range_is_rejected(self, age: dict[str, int]) -> None:
        with pytest.raises(ValidationError):
            make_case(age=age)

    def test_age_may_be_absent(self) -> None:
        assert make_case(age=None).age is None


class TestHlaPattern:
    @pytest.mark.parametrize(
        "allele",
        ["A*02", "A*02:01", "A*02:01:01", "A*02:01:01:01", "HLA-A*02:01", "DRB1*15:01", "A*24:09N"],
    )
    def test_resolutions_from_one_to_four_fields_are_accepted(self, allele: str) -> None:
        assert make_case(hla_alleles=[allele]).hla_alleles == [allele]

    @pytest.mark.parametrize(
        "allele",
        ["A02:01", "A*2:01", "A*02:1", "A*02:01:01:01:01", "a*02:01", "A*02:01X", "HLA-A", ""],
    )
    def test_malformed_alleles_are_rejected(self, allele: str) -> None:
        with pytest.raises(ValidationError) as caught:
            make_case(hla_alleles=["A*24:02", allele])
        assert [e["loc"] for e in caught.value.errors()] == [("hla_alleles", 1)]


class TestCaseShape:
    @pytest.mark.parametrize(
        ("overrides", "location"),
        [
            ({"patient_name": "x"}, ("patient_name",)),
            ({"biomarkers": {"msi": "MSI-H"}}, ("biomarkers", "msi")),
            ({"diagnosis": {"oncotree_code": "LMS", "stage": "IV"}}, ("diagnosis", "stage")),
            ({"age": {"years": 3, "weeks": 2}}, ("age", "weeks")),
        ],
    )
    def test_unknown_fields_are_rejected_at_any_depth(
        self, overrides: dict[str, Any], location: tuple[str, ...]
    ) -> None:
        with pytest.raises(ValidationError) as caught:
            make_case(**overrides)
        errors = caught.value.errors()
        assert [(e["type"], e["loc"]) for e in errors] == [("extra_forbidden", location)]

    def test_only_the_case_id_is_required(self) -> None:
        case = Case(case_id="c-1")
        assert case.model_dump(exclude_none=True) == {"case_id": "c-1"}

    @pytest.mark.parametrize("case_id", ["", "has space", "-leading-dash", "x" * 65, "naïve"])
    def test_case_id_is_a_safe_pseudonymous_token(self, case_id: str) -> None:
        with pytest.raises(ValidationError):
            Case(case_id=case_id)

    @pytest.mark.parametrize(
        ("scale", "value", "valid"),
        [
            ("ECOG", 0, True),
            ("ECOG", 5, True),
            ("ECOG", 6, False),
            ("Karnofsky", 70, True),
            ("Karnofsky", 75, False),
            ("Lansky", 50, True),
            ("Lansky", 110, False),
        ],
    )
    def test_performance_scales_have_their_own_ranges(
        self, scale: str, value: int, valid: bool
    ) -> None:
        data = {"scale": scale, "value": value}
        if valid:
            assert PerformanceScore.model_validate(data).value == value
        else:
            with pytest.raises(ValidationError):
                PerformanceScore.model_validate(data)

    def test_empty_list_and_absent_list_stay_distinct(self) -> None:
        reported_none = make_case(biomarkers={"fusions": []})
        not_reported = make_case(biomarkers={})
        assert reported_none.biomarkers is not None
        assert reported_none.biomarkers.fusions == []
        assert not_reported.biomarkers is not None
        assert not_reported.biomarkers.fusions is None

    def test_cases_are_immutable(self) -> None:
        case = make_case()
        with pytest.raises(ValidationError):
            case.case_id = "other"  # type: ignore[misc]

    def test_every_event_type_has_a_body_model(self) -> None:
        expected = {
            CASE_SUBMITTED: Case,
            CASE_UPDATED: Case,
            CASE_WITHDRAWN: CaseWithdrawn,
            MATCH_DECIDED: MatchDecided,
            CASE_SUMMARIZED: CaseSummary,
        }
        assert expected == EVENT_BODIES


# --- encode / decode ---------------------------------------------------------------------------


class TestRoundTrip:
    def test_binary_mode_headers_and_key(self) -> None:
        when = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
        case = make_case()
        record = encode(
            CASE_SUBMITTED, case, key=case.case_id, source=TEST_SOURCE, event_id="ev-1", time=when
        )
        assert record.key == DEFAULT_CASE_ID.encode()
        assert dict(record.headers) == {
            "ce_specversion": b"1.0",
            "ce_id": b"ev-1",
            "ce_source": TEST_SOURCE.encode(),
            "ce_type": CASE_SUBMITTED.encode(),
            "ce_subject": DEFAULT_CASE_ID.encode(),
            "ce_time": b"2026-11-27T12:00:00Z",
            "content-type": b"application/json",
        }
        assert json.loads(record.value or b"") == case.model_dump(mode="json", exclude_none=True)

    def test_body_is_plain_json_without_nulls(self) -> None:
        record = wire_case(make_case(sex=None, country="GB"))
        assert json.loads(record.value or b"") == {
            "case_id": DEFAULT_CASE_ID,
            "age": {"years": 40},
            "country": "GB",
            "diagnosis": {"oncotree_code": "SYNS"},
        }

    def test_decode_returns_attributes_and_the_validated_body(self) -> None:
        case = make_case(
            hla_alleles=["A*02:01"],
            biomarkers={"antigens": [{"antigen": "MAGE-A4", "status": "positive"}]},
        )
        envelope = decode(wire_case(case, event_id="ev-2"), CASE_TYPES)
        assert (envelope.event_type, envelope.event_id, envelope.source) == (
            CASE_SUBMITTED,
            "ev-2",
            TEST_SOURCE,
        )
        assert envelope.body == case

    def test_each_encode_gets_a_fresh_event_id(self) -> None:
        case = make_case()
        assert header(wire_case(case), "ce_id") != header(wire_case(case), "ce_id")

    def test_withdrawal_round_trip(self) -> None:
        body = CaseWithdrawn(case_id="c-9", reason="enrolled")
        record = encode(CASE_WITHDRAWN, body, key="c-9", source=TEST_SOURCE)
        assert decode(record, CASE_TYPES).body == body

    def test_match_round_trip(self) -> None:
        match = MatchDecided(
            case_id="c-9",
            program_id="NCT04044768",
            program_title="t",
            outcome=Outcome.NEEDS_INFO,
            criteria=[
                CriterionResult(
                    criterion_id="hla",
                    section="inclusion",
                    status=CriterionStatus.UNKNOWN,
                    text="t",
                )
            ],
            facts_to_collect=["HLA-A typing"],
            rules_version="sha256:0",
            decided_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        record = encode(MATCH_DECIDED, match, key="c-9", source=TEST_SOURCE)
        assert decode(record, frozenset({MATCH_DECIDED})).body == match

    def test_header_names_are_case_insensitive_and_charset_is_allowed(self) -> None:
        record = wire_case(make_case())
        shouted = WireRecord(
            record.key, record.value, tuple((name.upper(), value) for name, value in record.headers)
        )
        assert decode(shouted, CASE_TYPES).body == make_case()
        charset = with_headers(record, replace={"content-type": b"application/json; charset=utf-8"})
        assert decode(charset, CASE_TYPES).body == make_case()

    def test_content_type_may_be_omitted(self) -> None:
        record = with_headers(wire_case(make_case()), drop=("content-type",))
        assert decode(record, CASE_TYPES).body == make_case()

    def test_record_exactly_at_the_limit_is_accepted(self) -> None:
        record = wire_case(make_case())
        room = MAX_RECORD_BYTES - len(record.key or b"") - len(record.value or b"")
        padded = WireRecord(record.key, (record.value or b"") + b" " * room, record.headers)
        assert decode(padded, CASE_TYPES).body == make_case()


class TestDecodeErrors:
    def test_too_large(self) -> None:
        record = wire_case(make_case())
        room = MAX_RECORD_BYTES - len(record.key or b"") - len(record.value or b"")
        padded = WireRecord(record.key, (record.value or b"") + b" " * (room + 1), record.headers)
        assert decode_error(padded).reason == "too_large"

    @pytest.mark.parametrize("missing", ["ce_specversion", "ce_id", "ce_source", "ce_type"])
    def test_missing_headers(self, missing: str) -> None:
        error = decode_error(with_headers(wire_case(make_case()), drop=(missing,)))
        assert error.reason == "missing_headers"
        assert missing in str(error)

    def test_no_headers_at_all(self) -> None:
        record = wire_case(make_case())
        assert decode_error(WireRecord(record.key, record.value)).reason == "missing_headers"

    def test_unknown_type(self) -> None:
        record = with_headers(wire_case(make_case()), replace={"ce_type": b"com.example.other"})
        assert decode_error(record).reason == "unknown_type"

    def test_a_known_type_the_topic_does_not_carry_is_unknown_here(self) -> None:
        record = wire_case(make_case())
        assert decode_error(record, frozenset({MATCH_DECIDED})).reason == "unknown_type"

    @pytest.mark.parametrize(
        "content_type", [b"text/plain", b"application/xml", b"application/cloudevents+json"]
    )
    def test_bad_content_type(self, content_type: bytes) -> None:
        record = with_headers(wire_case(make_case()), replace={"content-type": content_type})
        assert decode_error(record).reason == "bad_content_type"

    @pytest.mark.parametrize("value", [b"", None])
    def test_empty_body(self, value: bytes | None) -> None:
        record = wire_case(make_case())
        assert decode_error(WireRecord(record.key, value, record.headers)).reason == "empty_body"

    @pytest.mark.parametrize(
        "replace",
        [{"ce_id": b""}, {"ce_time": b"yesterday"}],
    )
    def test_bad_attributes(self, replace: dict[str, bytes]) -> None:
        record = with_headers(wire_case(make_case()), replace=replace)
        assert decode_error(record).reason == "bad_attributes"

    @pytest.mark.parametrize("version", [b"0.3", b"9.9"])
    def test_only_cloudevents_1_0_is_accepted(self, version: bytes) -> None:
        record = with_headers(wire_case(make_case()), replace={"ce_specversion": version})
        assert decode_error(record).reason == "bad_specversion"

    def test_a_record_without_key_is_rejected(self) -> None:
        wire = wire_case(make_case())
        keyless = type(wire)(None, wire.value, wire.headers)
        assert decode_error(keyless).reason == "missing_key"

    @pytest.mark.parametrize("value", [b"{not json", b'{"case_id": "c-1"', b"\xff\xfe", b"nul"])
    def test_bad_json(self, value: bytes) -> None:
        assert decode_error(body_record(value)).reason == "bad_json"

    @pytest.mark.parametrize(
        ("body", "path"),
        [
            ({}, "data.case_id"),
            ({"case_id": DEFAULT_CASE_ID, "age": {"years": 987654}}, "data.age.years"),
            ({"case_id": DEFAULT_CASE_ID, "age": {"years": "thirty"}}, "data.age.years"),
            ({"case_id": DEFAULT_CASE_ID, "sex": "SENTINEL"}, "data.sex"),
            ({"case_id": DEFAULT_CASE_ID, "country": "SENTINEL"}, "data.country"),
            (
                {"case_id": DEFAULT_CASE_ID, "hla_alleles": ["A*02:01", "SENTINEL"]},
                "data.hla_alleles.1",
            ),
            ({"case_id": DEFAULT_CASE_ID, "SENTINEL_NAME": "SENTINEL"}, "data.<unknown field>"),
            (
                {"case_id": DEFAULT_CASE_ID, "diagnosis": {"oncotree_code": "SYNS", "SENTINEL": 1}},
                "data.diagnosis.<unknown field>",
            ),
            (
                {
                    "case_id": DEFAULT_CASE_ID,
                    "biomarkers": {
                        "antigens": [
                            {"antigen": "CD7", "status": "positive", "percent_cells": 123.456}
                        ]
                    },
                },
                "data.biomarkers.antigens.0.percent_cells",
            ),
            (
                {"case_id": DEFAULT_CASE_ID, "diagnosis": {"oncotree_code": "sentinel"}},
                "data.diagnosis.oncotree_code",
            ),
            (
                {"case_id": DEFAULT_CASE_ID, "performance": [{"scale": "ECOG", "value": 77}]},
                "data.performance.0",
            ),
        ],
    )
    def test_schema_violation_names_the_field_path_never_the_value(
        self, body: dict[str, Any], path: str
    ) -> None:
        error = decode_error(body_record(body))
        assert error.reason == "schema_violation"
        assert str(error).startswith(f"{path}: ")
        for secret in ("SENTINEL", "sentinel", "987654", "thirty", "123.456", "77"):
            assert secret not in str(error)
            assert secret not in error.reason

    @pytest.mark.parametrize("body", [[1, 2], "a string", 42, None])
    def test_json_that_is_not_an_object_is_a_schema_violation(self, body: Any) -> None:
        error = decode_error(body_record(json.dumps(body).encode()))
        assert error.reason == "schema_violation"
        assert str(error).startswith("data: ")

    def test_inconsistent_age_message_does_not_carry_the_ages(self) -> None:
        body = {"case_id": DEFAULT_CASE_ID, "age": {"years": 24, "months": 311}}
        error = decode_error(body_record(body))
        assert error.reason == "schema_violation"
        assert "data.age" in str(error)
        assert "311" not in str(error)
        assert "24" not in str(error)

    def test_key_mismatch(self) -> None:
        record = wire_case(make_case(), key="Jane Doe 1961-04-02")
        error = decode_error(record)
        assert error.reason == "key_mismatch"
        assert "Jane" not in str(error)
        assert make_case().case_id not in str(error)

    def test_header_values_are_not_echoed(self) -> None:
        record = wire_case(make_case())
        for name, value in (("ce_type", b"Jane Doe"), ("content-type", b"text/Jane Doe")):
            headers = tuple((n, value if n == name else v) for n, v in record.headers)
            error = decode_error(WireRecord(record.key, record.value, headers))
            assert "Jane" not in str(error), name

    def test_key_mismatch_also_applies_to_withdrawals(self) -> None:
        record = encode(CASE_WITHDRAWN, CaseWithdrawn(case_id="c-1"), key="c-2", source=TEST_SOURCE)
        assert decode_error(record).reason == "key_mismatch"

    def test_checks_run_cheapest_first(self) -> None:
        """An oversized record without headers is reported as too large, not re-parsed."""
        record = WireRecord(b"k", b"x" * (MAX_RECORD_BYTES + 1))
        assert decode_error(record).reason == "too_large"
