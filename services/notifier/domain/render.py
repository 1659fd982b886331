"""Decisions as messages: Jinja2 templates for email and chat, the match event as webhook body.

Only what a coordinator needs: the case id, the program, the outcome, each criterion with the
value it named, the facts to collect, the rules version and a link to the case.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime
from functools import cache

from jinja2 import Environment, PackageLoader, StrictUndefined

from rarematch.common.contracts import CriterionResult, CriterionStatus, MatchDecided, Outcome
from rarematch.notifier.ports import Notification

__all__ = ["OUTCOME_LABELS", "render_decision", "render_digest"]

OUTCOME_LABELS = {
    Outcome.ELIGIBLE: "eligible",
    Outcome.NEEDS_INFO: "possibly eligible - needs data",
    Outcome.INELIGIBLE: "not eligible",
    Outcome.REVOKED: "no longer eligible",
}
STATUS_LABELS = {
    ("inclusion", CriterionStatus.MET): "met",
    ("inclusion", CriterionStatus.NOT_MET): "NOT MET",
    ("exclusion", CriterionStatus.MET): "EXCLUDES",
    ("exclusion", CriterionStatus.NOT_MET): "clear",
}


def status_label(result: CriterionResult) -> str:
    """What a coordinator reads: an exclusion that is met excludes; one not met is clear."""
    return STATUS_LABELS.get((result.section, result.status), "unknown")


def render_decision(
    decision: MatchDecided, message_id: str, case_url_template: str | None
) -> Notification:
    context = {
        "d": decision,
        "outcome_label": OUTCOME_LABELS[decision.outcome],
        "label": status_label,
        "case_url": case_url(decision.case_id, case_url_template),
    }
    return Notification(
        message_id=message_id,
        subject=(
            f"[rarematch] Case {decision.case_id}: {OUTCOME_LABELS[decision.outcome]} "
            f"for {decision.program_id}"
        ),
        text=_templates().get_template("email.txt.j2").render(context),
        chat=_templates().get_template("chat.md.j2").render(context),
        payload=decision.model_dump_json().encode(),
    )


def render_digest(
    route: str,
    decisions: list[MatchDecided],
    since: datetime,
    message_id: str,
    case_url_template: str | None,
) -> Notification:
    counts = sorted(Counter((d.program_id, d.outcome) for d in decisions).items())
    context = {
        "route": route,
        "decisions": decisions,
        "since": since,
        "counts": counts,
        "outcome_labels": OUTCOME_LABELS,
        "case_urls": [case_url(d.case_id, case_url_template) for d in decisions],
    }
    payload = {
        "route": route,
        "since": since.isoformat(),
        "counts": [
            {"program_id": program, "outcome": outcome.value, "count": count}
            for (program, outcome), count in counts
        ],
        "decisions": [d.model_dump(mode="json") for d in decisions],
    }
    return Notification(
        message_id=message_id,
        subject=f"[rarematch] Digest for {route}: {len(decisions)} decision(s)",
        text=_templates().get_template("digest-email.txt.j2").render(context),
        chat=_templates().get_template("digest-chat.md.j2").render(context),
        payload=json.dumps(payload).encode(),
    )


def case_url(case_id: str, template: str | None) -> str | None:
    """`https://navigator.example.org/cases/{case_id}` -> the link for this case."""
    return template.replace("{case_id}", case_id) if template else None


@cache
def _templates() -> Environment:
    return Environment(
        loader=PackageLoader("rarematch.notifier", "templates"),
        undefined=StrictUndefined,
        autoescape=False,  # plain text and Markdown, never HTML  # noqa: S701
        keep_trailing_newline=True,
        trim_blocks=True,
    )
