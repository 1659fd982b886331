"""The JSON Schemas in schemas/ are exactly what the pydantic models export today."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from rarematch.cli import DECISION_STATE_SCHEMA, PROGRAM_SCHEMA
from rarematch.common.contracts.schemas import EVENT_SCHEMAS, render_schema
from rarematch.eligibility.domain.criteria import Program

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
CASES = Path(__file__).resolve().parents[2] / "examples" / "cases"


@pytest.mark.parametrize("name", sorted(EVENT_SCHEMAS))
def test_exported_schema_matches_model(name: str) -> None:
    exported = SCHEMAS / name
    assert exported.exists(), f"{exported} missing: run `rarematch schemas export`"
    assert exported.read_text(encoding="utf-8") == render_schema(EVENT_SCHEMAS[name]), (
        f"{exported} drifted from its model: run `rarematch schemas export` and commit"
    )


def test_program_file_schema_matches_model() -> None:
    exported = SCHEMAS / PROGRAM_SCHEMA
    assert exported.read_text(encoding="utf-8") == render_schema(Program), (
        f"{exported} drifted: run `rarematch schemas export` and commit"
    )


def test_no_stray_schema_files() -> None:
    assert {p.name for p in SCHEMAS.glob("*.json")} == {
        *EVENT_SCHEMAS,
        PROGRAM_SCHEMA,
        DECISION_STATE_SCHEMA,
    }


@pytest.mark.parametrize("case_file", sorted(CASES.glob("*.json")), ids=lambda p: p.name)
def test_sample_cases_validate_against_the_exported_schema(case_file: Path) -> None:
    schema = json.loads((SCHEMAS / "case.schema.json").read_text())
    jsonschema.validate(json.loads(case_file.read_text()), schema)


def test_the_exported_schema_rejects_an_invalid_case() -> None:
    schema = json.loads((SCHEMAS / "case.schema.json").read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"case_id": "c1", "age": {"years": -1}}, schema)
