"""Intake is as strict as the published JSON Schema: no coercion, no NaN or infinity, no key
given twice; generated bodies show the models and the exported schemas agree."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

from rarematch.common.contracts import CASE_SUBMITTED, Case, MatchDecided
from rarematch.common.contracts.cloudevents import DecodeError, WireRecord, decode, parse_body
from tests.builders import make_case, wire_case

REPO = Path(__file__).resolve().parents[2]
SAMPLES = sorted((REPO / "examples" / "cases").glob("*.json"))
CASE_SCHEMA = json.loads((REPO / "schemas" / "case.schema.json").read_text())
VALID = json.loads(SAMPLES[0].read_text())


def with_body(text: str) -> DecodeError:
    record = wire_case(make_case(case_id=VALID["case_id"]))
    with pytest.raises(DecodeError) as refused:
        decode(WireRecord(record.key, text.encode(), record.headers), frozenset({CASE_SUBMITTED}))
    return refused.value


@pytest.mark.parametrize(
    ("fragment", "path"),
    [
        ('"age": {"years": "12"}', "data.age.years"),
        ('"age": {"years": true}', "data.age.years"),
        ('"age": {"years": 12.5}', "data.age.years"),
        ('"age": {"years": "12.0"}', "data.age.years"),
        ('"biomarkers": {"tmb_mut_per_mb": 1e400}', "data.biomarkers.tmb_mut_per_mb"),
        ('"diagnosis": {"oncotree_code": 7}', "data.diagnosis.oncotree_code"),
        ('"hla_alleles": "A*02:01"', "data.hla_alleles"),
    ],
)
def test_values_the_schema_rejects_are_not_coerced(fragment: str, path: str) -> None:
    error = with_body(f'{{"case_id": "{VALID["case_id"]}", {fragment}}}')
    assert error.reason == "schema_violation"
    assert str(error).startswith(f"{path}: ")


@pytest.mark.parametrize("constant", ["Infinity", "-Infinity", "NaN"])
def test_nan_and_infinity_are_not_json(constant: str) -> None:
    error = with_body(
        f'{{"case_id": "{VALID["case_id"]}", "biomarkers": {{"tmb_mut_per_mb": {constant}}}}}'
    )
    assert error.reason == "bad_json"


def test_a_second_case_id_cannot_slip_past_the_key_check() -> None:
    """Before: the last `case_id` won, so a body keyed by one case could carry another."""
    error = with_body(f'{{"case_id": "{VALID["case_id"]}", "case_id": "case-someone-else"}}')
    assert error.reason == "duplicate_key"
    assert "someone" not in str(error)


def test_a_key_given_twice_in_a_nested_object_is_refused() -> None:
    error = with_body(f'{{"case_id": "{VALID["case_id"]}", "age": {{"years": 40, "years": 4}}}}')
    assert error.reason == "duplicate_key"


def test_match_events_are_read_as_strictly() -> None:
    body = {"case_id": "c-1", "program_id": "p", "outcome": "eligible", "rules_version": 1}
    with pytest.raises(ValidationError):
        parse_body(MatchDecided, json.dumps(body))


# --- the models and the exported schema agree on generated bodies -------------------------------

JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**6), max_value=10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from(
        ["", "12", "true", "A*02:01", "A*\u0662:\u0661", "SYNS", "syns", "KRAS", "p.G12C", "NL"]
    ),
    st.text(max_size=8),
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*path, index))
    return found


def _look_alikes(value: Any) -> list[Any]:
    """What a lax parser would take for `value`: the mistakes intake systems make."""
    if isinstance(value, bool):
        return [int(value), str(value).lower(), None]
    if isinstance(value, int | float):
        return [str(value), bool(value), float(value) + 0.5, int(value), float(value), [value]]
    if isinstance(value, str):
        digits = value.translate(
            str.maketrans(
                "0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
            )
        )
        return [value.lower(), f" {value}", digits, [value], 1, value * 40]
    return [None, [], {}, "x"]


@st.composite
def mutated_bodies(draw: st.DrawFn) -> Any:
    """A sample case with one to three values replaced, keys dropped or keys added."""
    body = json.loads(draw(st.sampled_from(SAMPLES)).read_text())
    for _ in range(draw(st.integers(1, 3))):
        paths = _paths(body)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["confuse", "confuse", "replace", "drop", "add"]))
        if not path:
            continue
        parent = body
        for part in path[:-1]:
            parent = parent[part]
        if action == "confuse":
            parent[path[-1]] = draw(st.sampled_from(_look_alikes(parent[path[-1]])))
        elif action == "replace":
            parent[path[-1]] = draw(JSON_VALUES)
        elif action == "drop" and isinstance(parent, dict):
            del parent[path[-1]]
        elif action == "add" and isinstance(parent, dict):
            parent[draw(st.sampled_from(["extra", "years", "months", "percent_cells"]))] = draw(
                JSON_VALUES
            )
    return body


ONLY_THE_MODEL_CHECKS = {"value_error", "finite_number"}
"""What JSON Schema cannot say: model validators over several fields (age in months and years
must agree; a performance score's range depends on its scale), and numbers too large for a
double (`1e400`, which Python's parsers read as infinity)."""


def model_verdict(model: type[BaseModel], body: Any) -> tuple[bool, set[str]]:
    try:
        parse_body(model, json.dumps(body, allow_nan=False))
    except ValidationError as refused:
        return False, {e["type"] for e in refused.errors()}
    return True, set()


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(mutated_bodies())
def test_the_case_model_and_its_published_schema_accept_the_same_bodies(body: Any) -> None:
    schema_accepts = jsonschema.Draft202012Validator(CASE_SCHEMA).is_valid(body)
    model_accepts, errors = model_verdict(Case, body)
    if schema_accepts and not model_accepts:
        assert errors <= ONLY_THE_MODEL_CHECKS, f"only the model refuses: {errors}"
    else:
        assert model_accepts == schema_accepts, f"schema accepts: {schema_accepts}"


def test_a_whole_number_written_with_a_fraction_is_an_integer_as_json_schema_says() -> None:
    body = {"case_id": VALID["case_id"], "age": {"years": 40.0}}
    assert jsonschema.Draft202012Validator(CASE_SCHEMA).is_valid(body)
    case = parse_body(Case, json.dumps(body))
    assert case.age is not None
    assert case.age.years == 40


def test_json_nested_past_python_s_recursion_limit_is_bad_json_not_a_handler_failure() -> None:
    """Found by the fault suite: a 5,000-deep array raised RecursionError, retried, then parked
    as `handler_failed` instead of `bad_json`."""
    assert with_body("[" * 5000 + "]" * 5000).reason == "bad_json"


def test_hla_digits_are_ascii() -> None:
    """Found by the fault suite: Arabic-Indic digits matched `\\d` and the case was evaluated."""
    error = with_body(
        f'{{"case_id": "{VALID["case_id"]}", "hla_alleles": ["A*\\u0660\\u0662:\\u0660\\u0661"]}}'
    )
    assert error.reason == "schema_violation"
    assert str(error).startswith("data.hla_alleles.0: ")
