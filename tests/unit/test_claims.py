"""Who may take a dedup claim: the pure decision both stores apply."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rarematch.common.kafka.membership import default_instance_id
from rarematch.common.settings import NotifierSettings
from rarematch.notifier.bootstrap import instance_id
from rarematch.notifier.domain.claims import (
    Claim,
    Heartbeat,
    Instance,
    may_claim,
    new_epoch,
)

NOW = datetime(2026, 12, 2, 9, 0, tzinfo=UTC)
STALE = timedelta(seconds=5)
ME = Instance("notifier-a", "epoch-2")
OTHER = Instance("notifier-b", "epoch-7")


def pending(owner: Instance | None) -> Claim:
    return Claim(sent=False, owner=owner)


def test_a_key_never_claimed_is_taken() -> None:
    assert may_claim(None, None, ME, NOW, STALE)


def test_a_sent_key_is_never_taken_by_anyone() -> None:
    for owner in (None, ME, OTHER, Instance(ME.id, "epoch-1")):
        assert not may_claim(Claim(sent=True, owner=owner), None, ME, NOW, STALE)


def test_a_live_instances_claim_is_left_alone_until_its_heartbeat_is_stale() -> None:
    beat = Heartbeat(OTHER.epoch, NOW - STALE)
    assert not may_claim(pending(OTHER), beat, ME, NOW, STALE)  # exactly stale_after: alive
    late = Heartbeat(OTHER.epoch, NOW - STALE - timedelta(microseconds=1))
    assert may_claim(pending(OTHER), late, ME, NOW, STALE)
    future = Heartbeat(OTHER.epoch, NOW + timedelta(seconds=30))  # a clock ahead of ours
    assert not may_claim(pending(OTHER), future, ME, NOW, STALE)


def test_an_earlier_incarnation_of_this_instance_is_taken_over_at_once() -> None:
    earlier = Instance(ME.id, "epoch-1")
    fresh = Heartbeat(earlier.epoch, NOW)  # even though it beat just now
    assert may_claim(pending(earlier), fresh, ME, NOW, STALE)


def test_this_process_may_claim_again_what_it_holds() -> None:
    assert may_claim(pending(ME), Heartbeat(ME.epoch, NOW), ME, NOW, STALE)


def test_a_claim_of_an_instance_that_restarted_since_is_taken_over() -> None:
    restarted = Heartbeat("epoch-8", NOW)  # OTHER's id beats, but as a new incarnation
    assert may_claim(pending(OTHER), restarted, ME, NOW, STALE)


def test_a_claim_whose_owner_never_beat_or_is_unknown_is_taken_over() -> None:
    assert may_claim(pending(OTHER), None, ME, NOW, STALE)
    assert may_claim(pending(None), None, ME, NOW, STALE)  # written before instance ids


def test_the_default_instance_id_is_stable_per_host_and_state_and_fits_kafka() -> None:
    first = default_instance_id(
        "notifier", "worker-1.example.org", "/var/lib/rarematch/notifier.sqlite3"
    )
    assert first == default_instance_id(
        "notifier", "worker-1.example.org", "/var/lib/rarematch/notifier.sqlite3"
    )
    assert first != default_instance_id(
        "notifier", "worker-2.example.org", "/var/lib/rarematch/notifier.sqlite3"
    )
    assert first != default_instance_id(
        "notifier", "worker-1.example.org", "/srv/other/notifier.sqlite3"
    )
    for host in ("worker-1.example.org", "häst ñame/ü", "", "x" * 300):
        instance_id = default_instance_id("notifier", host, "/state")
        assert re.fullmatch(r"[A-Za-z0-9._-]{1,249}", instance_id), instance_id


def test_every_process_gets_a_new_epoch() -> None:
    assert len({new_epoch() for _ in range(50)}) == 50


def test_the_instance_id_is_the_setting_or_derived_from_group_and_store(tmp_path: Path) -> None:
    settings = NotifierSettings(notifier_store_path=tmp_path / "notifier.sqlite3")
    again = NotifierSettings(notifier_store_path=tmp_path / "notifier.sqlite3")
    assert instance_id(settings) == instance_id(again)  # a restart gets the same id
    other_store = settings.model_copy(update={"notifier_store_path": tmp_path / "b.sqlite3"})
    other_group = settings.model_copy(update={"notifier_group": "another-group"})
    assert len({instance_id(settings), instance_id(other_store), instance_id(other_group)}) == 3
    named = settings.model_copy(update={"notifier_instance_id": "navigation-1"})
    assert instance_id(named) == "navigation-1"
