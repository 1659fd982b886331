"""A decision as a plain-text email: program, outcome, reasons per criterion, facts to collect.

Only what a coordinator needs: the case id and the values the criteria named; never the case.
"""

from __future__ import annotations

from dataclasses import dataclass

from rarematch_common.contracts import CriterionResult, CriterionStatus, MatchDecided, Outcome

__all__ = ["Message", "render_email"]

OUTCOME_LABELS = {
    Outcome.ELIGIBLE: "eligible",
    Outcome.NEEDS_INFO: "possibly eligible - needs data",
    Outcome.INELIGIBLE: "not eligible",
    Outcome.REVOKED: "no longer eligible",
}
STATUS_MARKS = {
    CriterionStatus.MET: "met",
    CriterionStatus.NOT_MET: "NOT MET",
    CriterionStatus.UNKNOWN: "unknown",
}


@dataclass(frozen=True)
class Message:
    subject: str
    body: str


def render_email(decision: MatchDecided) -> Message:
    label = OUTCOME_LABELS[decision.outcome]
    subject = f"[rarematch] Case {decision.case_id}: {label} for {decision.program_id}"
    lines = [
        f"Case:     {decision.case_id}",
        f"Program:  {decision.program_title} ({decision.program_id})",
        f"Outcome:  {label}",
        "",
        "Criteria:",
        *(_criterion_line(result) for result in decision.criteria),
    ]
    if decision.facts_to_collect:
        lines += ["", "Facts to collect:", *(f"  - {fact}" for fact in decision.facts_to_collect)]
    lines += [
        "",
        f"Decided {decision.decided_at.isoformat()} by rules {decision.rules_version}.",
        "This message carries no patient data beyond the case id and the values named above.",
    ]
    return Message(subject, "\n".join(lines) + "\n")


def _criterion_line(result: CriterionResult) -> str:
    seen = f" [seen: {result.observed}]" if result.observed else ""
    section = "exclusion " if result.section == "exclusion" else ""
    return (
        f"  - {STATUS_MARKS[result.status]:8} {section}{result.criterion_id}: {result.text}{seen}"
    )
