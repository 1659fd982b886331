"""Topic names, what each carries, and what it is keyed by."""

from __future__ import annotations

from dataclasses import dataclass

from rarematch.common.contracts import (
    CASE_SUBMITTED,
    CASE_SUMMARIZED,
    CASE_UPDATED,
    CASE_WITHDRAWN,
    MATCH_DECIDED,
)
from rarematch.common.settings import KafkaSettings

__all__ = ["Topic", "Topics"]


@dataclass(frozen=True)
class Topic:
    name: str
    event_types: frozenset[str]
    """CloudEvents types a consumer of this topic accepts; others are dead-lettered."""


@dataclass(frozen=True)
class Topics:
    """Every topic is keyed by case id, so all events of a case stay ordered on one partition."""

    cases: Topic
    case_state: Topic
    """Compacted: the latest valid case of each active case id; a withdrawal is a tombstone."""
    decision_state: Topic
    """Compacted changelog: the open decisions last published per case, and per partition
    the catalogue its cases are matched with (reserved keys, see eligibility.state)."""
    matches: Topic
    case_summaries: Topic
    """Compacted: per case, its open decisions by tier and the next tests (the worklist)."""
    cases_dead_letter: Topic
    matches_dead_letter: Topic

    @classmethod
    def from_settings(cls, settings: KafkaSettings) -> Topics:
        return cls(
            cases=Topic(
                settings.cases_topic, frozenset({CASE_SUBMITTED, CASE_UPDATED, CASE_WITHDRAWN})
            ),
            case_state=Topic(settings.case_state_topic, frozenset({CASE_SUBMITTED, CASE_UPDATED})),
            decision_state=Topic(settings.decision_state_topic, frozenset()),
            matches=Topic(settings.matches_topic, frozenset({MATCH_DECIDED})),
            case_summaries=Topic(settings.case_summaries_topic, frozenset({CASE_SUMMARIZED})),
            cases_dead_letter=Topic(settings.cases_dead_letter_topic, frozenset()),
            matches_dead_letter=Topic(settings.matches_dead_letter_topic, frozenset()),
        )
