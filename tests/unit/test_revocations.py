"""Revoked and changed decisions: who is told (only routes alerted before), and what they read."""

from __future__ import annotations

from pathlib import Path

from rarematch.common.contracts import MatchDecided
from rarematch.notifier.adapters.memory_store import MemoryStore
from rarematch.notifier.adapters.routing_file import parse_routing
from rarematch.notifier.adapters.sqlite_store import SqliteStore
from rarematch.notifier.domain.delivery import alert_prefix, alerted_route
from rarematch.notifier.domain.render import change_note
from rarematch.notifier.domain.routing import Routing, revocation_routes, routes_for
from tests.unit.test_dispatch import NOW, Harness, decision

ROUTING = Routing.model_validate(
    {
        "default_route": "sarcoma",
        "routes": {
            "sarcoma": {"email": ["sarcoma@example.org"]},
            "quiet": {"email": ["quiet@example.org"], "on_revoked": False, "on_changed": False},
        },
    }
)
CRITERION = {
    "criterion_id": "I3",
    "section": "inclusion",
    "status": "not_met",
    "text": "HLA-A*02 positive",
}


def revoked(**extra: object) -> MatchDecided:
    return decision(outcome="revoked", previous_outcome="eligible", **extra)


def test_a_revocation_goes_only_to_alerted_routes_that_still_want_revocations() -> None:
    assert revocation_routes({"sarcoma", "quiet", "gone"}, ROUTING) == ["sarcoma"]
    assert revocation_routes(set(), ROUTING) == []


def test_a_route_can_turn_changed_decisions_off_but_new_ones_still_alert() -> None:
    both = {"routes": ["sarcoma", "quiet"]}
    assert routes_for(decision(**both), ROUTING) == ["sarcoma", "quiet"]
    changed = decision(**both, change="outcome_changed", previous_outcome="needs_info")
    assert routes_for(changed, ROUTING) == ["sarcoma"]


def test_alert_keys_name_their_route_and_revocations_are_not_alerts() -> None:
    prefix = alert_prefix("case-1", "P1")
    assert alerted_route("case-1|P1|eligible|team|a|email", prefix) == "team|a"
    assert alerted_route("case-1|P1|needs_info+ab12|team|digest", prefix) == "team"
    assert alerted_route("case-1|P1|revoked|team|email", prefix) is None
    assert alerted_route("case-1|P10|eligible|team|email", prefix) is None


def test_revocation_after_an_alert_is_sent_and_one_without_is_skipped() -> None:
    harness = Harness(ROUTING)
    harness.handle(decision(routes=["sarcoma", "quiet"]))
    # the removed program's revocation names no routes: it follows the earlier alert
    harness.handle(revoked(routes=[], change="program_removed"))
    harness.handle(revoked(case_id="case-2", change="case_withdrawn"))
    assert harness.sent("sarcoma", "email") == 2
    assert harness.sent("quiet", "email") == 1
    last = harness.channels[("sarcoma", "email")].sent[-1]
    assert "no longer eligible" in last.subject
    assert "program was removed" in last.text


def test_facts_changed_is_not_deduplicated_against_the_first_alert() -> None:
    harness = Harness(ROUTING)
    harness.handle(decision(outcome="needs_info", facts_to_collect=["HLA type"]))
    harness.handle(
        decision(
            outcome="needs_info",
            facts_to_collect=["ECOG"],
            change="facts_changed",
            previous_outcome="needs_info",
        )
    )
    assert harness.sent("sarcoma", "email") == 2


def test_messages_say_why_and_what_it_was_before() -> None:
    failing = revoked(change="fails_criterion", failing_criterion="I3", criteria=[CRITERION])
    assert change_note(failing) == (
        "The case no longer qualifies: it now fails criterion I3: HLA-A*02 positive. "
        "It was: eligible."
    )
    closed = change_note(revoked(change="program_closed"))
    assert closed == "The case no longer qualifies: the program is closed. It was: eligible."
    changed = decision(change="outcome_changed", previous_outcome="needs_info")
    assert change_note(changed) == "Changed: it was possibly eligible - needs data."
    assert change_note(decision()) is None


def test_change_notes_in_chat_are_escaped() -> None:
    harness = Harness(ROUTING)
    harness.handle(decision())
    hostile = dict(CRITERION, criterion_id="[x](https://evil.example)", text="*bold*")
    harness.handle(
        revoked(
            change="fails_criterion", failing_criterion=hostile["criterion_id"], criteria=[hostile]
        )
    )
    chat = harness.channels[("sarcoma", "email")].sent[-1].chat
    assert "[x](" not in chat
    assert "\\*bold\\*" in chat


def test_sqlite_finds_sent_alert_keys_by_exact_prefix(tmp_path: Path) -> None:
    for store in (SqliteStore(tmp_path / "n.db"), MemoryStore()):
        for key in ("c|P1|eligible|t|email", "c|P10|eligible|t|email", "c|P1|x%|t|email"):
            store.complete(key, NOW)
        store.claim("c|P1|needs_info|t|email", Harness().dispatcher.instance, NOW, 5)
        assert store.sent_keys("c|P1|") == ["c|P1|eligible|t|email", "c|P1|x%|t|email"]
        store.close()


def test_routing_file_rejects_a_non_boolean_on_revoked_with_its_line() -> None:
    text = "default_route: a\nroutes:\n  a:\n    email: [a@example.org]\n    on_revoked: maybe\n"
    routing, errors = parse_routing("routing.yaml", text)
    assert routing is None
    assert [(e.line, "on_revoked" in str(e)) for e in errors] == [(5, True)]
