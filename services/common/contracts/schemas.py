"""JSON Schemas of every event body, as exported to `schemas/` for non-Python clients."""

from __future__ import annotations

import json

from pydantic import BaseModel

from rarematch.common.contracts.case import Case, CaseWithdrawn
from rarematch.common.contracts.match import MatchDecided
from rarematch.common.contracts.summary import CaseSummary

__all__ = ["EVENT_SCHEMAS", "render_schema"]

EVENT_SCHEMAS: dict[str, type[BaseModel]] = {
    "case.schema.json": Case,
    "case-withdrawn.schema.json": CaseWithdrawn,
    "match-decided.schema.json": MatchDecided,
    "case-summary.schema.json": CaseSummary,
}


def render_schema(model: type[BaseModel]) -> str:
    """Stable text (sorted keys, trailing newline) so the drift check compares bytes."""
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **model.model_json_schema(),
    }
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
