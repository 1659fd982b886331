"""Decisions as messages: Jinja2 templates for email and chat, the match event as webhook body.

Only what a coordinator needs: the case id, the program, the outcome, each criterion with the
value it named, the facts to collect, the rules version and a link to the case.

Every value comes from a match event, which anyone who can write to the topic can forge, so
every value a template prints goes through the template environment's `finalize`: in chat
(Markdown, which Apprise may turn into HTML) it is escaped for Markdown and HTML, so it cannot
make a link, an image, emphasis or a tag; everywhere, control characters (CR, LF, bidi
overrides …) become a space, so a value cannot start a line or a header. The only link is the
case link, built from the operator's `RAREMATCH_CASE_URL_TEMPLATE` (http or https) with the
case id percent-encoded.
"""

from __future__ import annotations

import html
import json
import re
from collections import Counter
from datetime import datetime
from functools import cache
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined
from markupsafe import Markup

from rarematch.common.contracts import (
    ChangeReason,
    CriterionResult,
    CriterionStatus,
    MatchDecided,
    Outcome,
)
from rarematch.notifier.ports import Notification

__all__ = [
    "OUTCOME_LABELS",
    "change_note",
    "markdown_text",
    "one_line",
    "render_decision",
    "render_digest",
]

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


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]+")
_MARKDOWN = re.compile(r"([\\`*_\[\]])")
_ENTITIES = {"~": "&#126;", "|": "&#124;"}  # strikethrough, tables: not backslash-escapable
_URL_UNSAFE = {"(": "%28", ")": "%29", "<": "%3C", ">": "%3E", " ": "%20", '"': "%22"}


def one_line(value: object) -> str:
    """`value` as text on one line: control and invisible formatting characters become a space."""
    return _CONTROL.sub(" ", str(value)).strip()


def markdown_text(value: object) -> str:
    """`value` as literal text in Markdown (and in the HTML a Markdown renderer makes of it):
    `<`, `>`, `&`, `~` and `|` as entities, and every character that could start emphasis,
    code, a link or an image (`* _ ` [ ]` and the backslash) escaped with a backslash."""
    if isinstance(value, Markup):  # built here, already safe (the case link)
        return str(value)
    text = _MARKDOWN.sub(r"\\\1", html.escape(one_line(value), quote=False))
    return "".join(_ENTITIES.get(char, char) for char in text)


_WHY_REVOKED = {
    ChangeReason.CASE_WITHDRAWN: "the case was withdrawn",
    ChangeReason.PROGRAM_CLOSED: "the program is closed",
    ChangeReason.PROGRAM_REMOVED: "the program was removed from the rules",
}


def change_note(decision: MatchDecided) -> str | None:
    """Plain text: why a revoked or changed decision was published, and what it was before."""
    before = OUTCOME_LABELS[decision.previous_outcome] if decision.previous_outcome else "unknown"
    if decision.outcome is Outcome.REVOKED:
        if decision.change is ChangeReason.FAILS_CRITERION:
            failing = next(
                (c for c in decision.criteria if c.criterion_id == decision.failing_criterion),
                None,
            )
            what = decision.failing_criterion or "a criterion"
            why = f"it now fails criterion {what}" + (f": {failing.text}" if failing else "")
        else:
            why = _WHY_REVOKED.get(decision.change, decision.change.value.replace("_", " "))
        return f"The case no longer qualifies: {why}. It was: {before}."
    if decision.change is ChangeReason.OUTCOME_CHANGED:
        return f"Changed: it was {before}."
    if decision.change is ChangeReason.FACTS_CHANGED:
        return f"Changed: the facts to collect differ (it was {before} already)."
    return None


def status_label(result: CriterionResult) -> str:
    """What a coordinator reads: an exclusion that is met excludes; one not met is clear."""
    return STATUS_LABELS.get((result.section, result.status), "unknown")


def render_decision(
    decision: MatchDecided, message_id: str, case_url_template: str | None
) -> Notification:
    url = case_url(decision.case_id, case_url_template)
    context = {
        "d": decision,
        "outcome_label": OUTCOME_LABELS[decision.outcome],
        "label": status_label,
        "case_url": url,
        "change_note": change_note(decision),
    }
    return Notification(
        message_id=message_id,
        subject=one_line(
            f"[rarematch] Case {one_line(decision.case_id)}: {OUTCOME_LABELS[decision.outcome]} "
            f"for {one_line(decision.program_id)}"
        ),
        text=_templates("text").get_template("email.txt.j2").render(context),
        chat=_templates("markdown")
        .get_template("chat.md.j2")
        .render(context | {"case_url": _link(url)}),
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
        subject=one_line(f"[rarematch] Digest for {route}: {len(decisions)} decision(s)"),
        text=_templates("text").get_template("digest-email.txt.j2").render(context),
        chat=_templates("markdown").get_template("digest-chat.md.j2").render(context),
        payload=json.dumps(payload).encode(),
    )


def case_url(case_id: str, template: str | None) -> str | None:
    """`https://navigator.example.org/cases/{case_id}` -> the link for this case.

    The case id is percent-encoded, so it cannot leave the path segment it is put in."""
    return template.replace("{case_id}", quote(case_id, safe="")) if template else None


def _link(url: str | None) -> Markup | None:
    """The case link as a Markdown link target: nothing in it can end the target early."""
    if url is None:
        return None
    return Markup("".join(_URL_UNSAFE.get(char, char) for char in one_line(url)))  # noqa: S704


@cache
def _templates(markup: str) -> Environment:
    """`markdown`: chat, every printed value escaped; `text`: email, every value on one line."""
    return Environment(
        loader=PackageLoader("rarematch.notifier", "templates"),
        undefined=StrictUndefined,
        autoescape=False,  # plain text and Markdown; `finalize` escapes  # noqa: S701
        finalize=markdown_text if markup == "markdown" else one_line,
        keep_trailing_newline=True,
        trim_blocks=True,
    )
