"""A forged match event cannot inject markup: every value is escaped for chat (Markdown, and
the HTML Apprise renders it to), no value can make a link (so no `javascript:` link), subjects
and lines carry no control characters, and event text fields are bounded."""

from __future__ import annotations

import html
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import markdown  # what Apprise renders Markdown with for HTML targets
import pytest
from pydantic import ValidationError

from rarematch.common.contracts import MatchDecided
from rarematch.common.contracts.match import OBSERVED_MAX_CHARS, bounded_observed
from rarematch.notifier.domain.render import one_line, render_decision, render_digest

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
TEMPLATE = "https://nav.example.org/cases/{case_id}"

HOSTILE = [
    "[click me](javascript:alert(1))",
    "<javascript:alert(document.cookie)>",
    "![pixel](https://evil.example/p.png)",
    "<script>alert(1)</script>",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">open</a>',
    "[ref]: javascript:alert(1)",
    "**bold** _em_ `code` ~~gone~~ | table |",
    "line\r\nBcc: victim@example.org",
    "\n# Heading\n- item",
    "back\\slash \\[not a link\\]",
    "rtl \u202eevil\u202c zero\u200bwidth",
    "&lt;already&gt; &amp; entities",
]


def hostile_decision(value: str, case_id: str = "case:1") -> MatchDecided:
    return MatchDecided.model_validate(
        {
            "case_id": case_id,
            "program_id": f"P {value}",
            "program_title": f"T {value}",
            "routes": ["sarcoma"],
            "outcome": "needs_info",
            "criteria": [
                {
                    "criterion_id": f"c {value}",
                    "section": "inclusion",
                    "status": "unknown",
                    "text": f"x {value}",
                    "observed": f"o {value}",
                },
                {
                    "criterion_id": "excl",
                    "section": "exclusion",
                    "status": "met",
                    "text": "y",
                    "observed": value,
                },
            ],
            "facts_to_collect": [f"f {value}"],
            "rules_version": f"v {value}",
            "decided_at": NOW,
        }
    )


class _Html(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def rendered_html(chat: str) -> _Html:
    parser = _Html()
    parser.feed(markdown.markdown(chat))
    return parser


@pytest.mark.parametrize("value", HOSTILE)
def test_chat_shows_every_hostile_value_as_text_and_links_only_the_case(value: str) -> None:
    note = render_decision(hostile_decision(value), "m1", TEMPLATE)
    page = rendered_html(note.chat)
    assert {tag for tag, _ in page.tags} <= {"p", "strong", "em", "ul", "li", "a"}, note.chat
    links = [attrs for tag, attrs in page.tags if tag == "a"]
    assert links == [{"href": "https://nav.example.org/cases/case%3A1"}], note.chat
    for _, attrs in page.tags:
        assert not any("javascript" in (v or "").lower() for v in attrs.values())
    text = "".join(page.text)
    assert one_line(f"P {value}") in text, "the value is shown literally, not interpreted"
    assert one_line(f"o {value}") in text


@pytest.mark.parametrize("value", HOSTILE)
def test_subjects_and_email_lines_carry_no_control_characters(value: str) -> None:
    note = render_decision(hostile_decision(value), "m1", TEMPLATE)
    assert note.subject == one_line(note.subject)
    assert all(ord(char) >= 0x20 for char in note.subject)
    assert "\u202e" not in note.subject + note.text + note.chat
    lines = note.text.splitlines()
    assert not [line for line in lines if line.startswith(("Bcc:", "# Heading", "- item"))]
    assert f"Program:  {one_line(f'T {value}')} ({one_line(f'P {value}')})" in lines


@pytest.mark.parametrize("value", HOSTILE)
def test_digest_chat_escapes_program_ids_too(value: str) -> None:
    note = render_digest("board", [hostile_decision(value)], NOW, "d1", TEMPLATE)
    page = rendered_html(note.chat)
    assert {tag for tag, _ in page.tags} <= {"p", "strong", "em", "ul", "li"}, note.chat
    assert one_line(f"P {value}") in "".join(page.text)
    assert note.subject == one_line(note.subject)


def test_the_case_id_is_percent_encoded_in_the_link() -> None:
    note = render_decision(hostile_decision("x", case_id="case_1:a.b"), "m1", TEMPLATE)
    assert "https://nav.example.org/cases/case_1%3Aa.b" in note.text
    [link] = [attrs for tag, attrs in rendered_html(note.chat).tags if tag == "a"]
    assert link["href"] == "https://nav.example.org/cases/case_1%3Aa.b"


def body(**changes: Any) -> dict[str, Any]:
    return hostile_decision("x").model_dump(mode="json") | changes


def criterion(**changes: Any) -> dict[str, Any]:
    return {"criterion_id": "c", "section": "inclusion", "status": "met", "text": "t"} | changes


def test_event_text_fields_are_bounded() -> None:
    MatchDecided.model_validate(body(criteria=[criterion(observed="x" * OBSERVED_MAX_CHARS)]))
    too_long = {
        "criteria": [criterion(observed="x" * (OBSERVED_MAX_CHARS + 1))],
        "program_id": "p" * 201,
        "program_title": "t" * 501,
        "facts_to_collect": ["f" * 501],
        "routes": ["r" * 201],
    }
    for field, value in too_long.items():
        with pytest.raises(ValidationError) as raised:
            MatchDecided.model_validate(body(**{field: value}))
        assert {error["type"] for error in raised.value.errors()} == {"string_too_long"}, field
    with pytest.raises(ValidationError):
        MatchDecided.model_validate(body(criteria=[criterion()] * 1001))


def test_long_observations_are_cut_where_they_are_made() -> None:
    assert bounded_observed("short") == "short"
    assert bounded_observed(None) is None
    cut = bounded_observed("x" * 5000)
    assert cut is not None
    assert len(cut) == OBSERVED_MAX_CHARS
    assert cut.endswith("…")
    assert html.escape("…") == "…"


def test_the_eligibility_service_publishes_observations_within_the_bound() -> None:
    from rarematch.common.contracts import CriterionStatus
    from rarematch.eligibility.domain.evaluate import _result

    result = _result("c", "inclusion", CriterionStatus.MET, "t", "A*02:01, " * 500, defining=False)
    assert result.observed is not None
    assert len(result.observed) == OBSERVED_MAX_CHARS
    body = hostile_decision("x").model_dump(mode="json")
    MatchDecided.model_validate(body | {"criteria": [result.model_dump(mode="json")]})
