"""Both notifier stores, one contract: claims, heartbeats and takeovers, restarts, digests and
racing instances."""

from __future__ import annotations

import contextlib
import random
import sqlite3
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest

from rarematch.notifier.adapters.postgres_store import PostgresStore
from rarematch.notifier.adapters.sqlite_store import SqliteStore
from rarematch.notifier.adapters.store import open_store
from rarematch.notifier.domain.claims import Instance
from rarematch.notifier.ports import DigestEntry, Store
from tests.postgres import postgres_schema

T0 = datetime(2025, 3, 1, 9, 30, tzinfo=UTC)
STALE_S = 5.0
KEY = "case-1|NCT0001|eligible|oncology-team|email"

OpenStore = Callable[[], Store]


@pytest.fixture(params=["sqlite", "postgres"])
def open_new(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[OpenStore]:
    """Opens another store on one fresh database (a restart, or a second notifier instance)."""
    sqlite_path = tmp_path / "state" / "notifier.sqlite3"
    database: AbstractContextManager[str | None] = contextlib.nullcontext()
    if request.param == "postgres":
        database = postgres_schema(request.getfixturevalue("postgres_url"))
    expected = PostgresStore if request.param == "postgres" else SqliteStore
    opened: list[Store] = []

    with database as url:

        def open_one() -> Store:
            store = open_store(url, sqlite_path)
            assert isinstance(store, expected)
            opened.append(store)
            return store

        yield open_one
        for store in opened:
            store.close()
    assert sqlite_path.exists() == (request.param == "sqlite")


@pytest.fixture
def store(open_new: OpenStore) -> Store:
    return open_new()


def entry(key: str, created_at: datetime, body: bytes | None = None) -> DigestEntry:
    return DigestEntry(key, body if body is not None else f'{{"key":"{key}"}}'.encode(), created_at)


# claims

A = Instance("notifier-a", "a-1")
B = Instance("notifier-b", "b-1")


def test_first_claim_wins_and_a_live_instances_claim_blocks_others(store: Store) -> None:
    store.heartbeat(A, T0)
    assert store.claim(KEY, A, T0, STALE_S)
    assert not store.claim(KEY, B, T0, STALE_S)
    store.heartbeat(A, T0 + timedelta(seconds=10))
    assert not store.claim(KEY, B, T0 + timedelta(seconds=10 + STALE_S), STALE_S)
    assert not store.completed(KEY)
    assert store.claim("another-key", B, T0, STALE_S)


def test_an_instance_may_claim_again_what_it_holds(store: Store) -> None:
    store.heartbeat(A, T0)
    assert store.claim(KEY, A, T0, STALE_S)
    assert store.claim(KEY, A, T0 + timedelta(seconds=1), STALE_S)  # a retried batch


def test_completed_keys_are_never_claimed_again(store: Store) -> None:
    store.heartbeat(A, T0)
    assert store.claim(KEY, A, T0, STALE_S)
    store.complete(KEY, T0 + timedelta(seconds=1))
    assert store.completed(KEY)
    restarted = Instance(A.id, "a-2")
    for later in (timedelta(0), timedelta(seconds=STALE_S + 1), timedelta(days=400)):
        for instance in (A, restarted, B):
            assert not store.claim(KEY, instance, T0 + later, STALE_S)
    store.release(KEY)  # a no-op on a sent key
    assert store.completed(KEY)
    assert not store.claim(KEY, B, T0 + timedelta(days=1), STALE_S)
    store.complete(KEY, T0 + timedelta(days=2))  # idempotent
    assert store.completed(KEY)


def test_complete_without_a_claim_still_marks_sent(store: Store) -> None:
    store.complete(KEY, T0)
    assert store.completed(KEY)
    assert not store.claim(KEY, A, T0 + timedelta(hours=1), STALE_S)


def test_release_drops_an_unfinished_claim_so_a_replay_can_send(store: Store) -> None:
    store.heartbeat(A, T0)
    assert store.claim(KEY, A, T0, STALE_S)
    store.release(KEY)
    assert not store.completed(KEY)
    assert store.claim(KEY, B, T0 + timedelta(seconds=1), STALE_S)
    store.release("never-claimed")  # a no-op


def test_a_restart_of_the_same_instance_takes_its_claims_over_at_once(store: Store) -> None:
    store.heartbeat(A, T0)
    assert store.claim(KEY, A, T0, STALE_S)
    restarted = Instance(A.id, "a-2")
    store.heartbeat(restarted, T0 + timedelta(milliseconds=300))
    assert store.claim(KEY, restarted, T0 + timedelta(milliseconds=301), STALE_S)
    # now the restarted incarnation holds it, alive: nobody else takes it
    assert not store.claim(KEY, B, T0 + timedelta(seconds=1), STALE_S)


def test_another_instance_takes_a_claim_over_once_its_holders_heartbeat_is_stale(
    store: Store,
) -> None:
    store.heartbeat(A, T0)
    assert store.claim(KEY, A, T0, STALE_S)
    stale = timedelta(seconds=STALE_S)
    assert not store.claim(KEY, B, T0 + stale, STALE_S)  # not older than stale_after yet
    taken_over = T0 + stale + timedelta(microseconds=1)
    store.heartbeat(B, taken_over)
    assert store.claim(KEY, B, taken_over, STALE_S)
    # the takeover is B's now: A, back from a pause, must not take it back while B beats
    store.heartbeat(A, taken_over)
    assert not store.claim(KEY, A, taken_over + timedelta(seconds=1), STALE_S)
    store.complete(KEY, taken_over + timedelta(seconds=2))
    assert not store.claim(KEY, A, taken_over + 10 * stale, STALE_S)


def test_a_claim_of_an_instance_that_restarted_since_is_taken_over(store: Store) -> None:
    store.heartbeat(A, T0)
    assert store.claim(KEY, A, T0, STALE_S)
    store.heartbeat(Instance(A.id, "a-2"), T0 + timedelta(seconds=1))  # A restarted, beats
    assert store.claim(KEY, B, T0 + timedelta(seconds=1), STALE_S)


def test_a_claim_whose_holder_never_beat_is_taken_over(store: Store) -> None:
    assert store.claim(KEY, A, T0, STALE_S)
    assert store.claim(KEY, B, T0, STALE_S)


def test_staleness_is_the_callers(store: Store) -> None:
    store.heartbeat(A, T0)
    assert store.claim(KEY, A, T0, 300)
    assert not store.claim(KEY, B, T0 + timedelta(seconds=10), 300)
    assert store.claim(KEY, B, T0 + timedelta(seconds=10), 5)


def test_naive_timestamps_are_refused(store: Store) -> None:
    naive = datetime(2025, 3, 1, 9, 30)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.claim(KEY, A, naive, STALE_S)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.heartbeat(A, naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        store.add_digest_entry("digest", entry("k", naive))


# restart


def test_state_survives_close_and_reopen(open_new: OpenStore) -> None:
    first = open_new()
    first.heartbeat(A, T0)
    assert first.claim("claimed", A, T0, STALE_S)
    assert first.claim("sent", A, T0, STALE_S)
    first.complete("sent", T0)
    assert first.add_digest_entry("weekly", entry("queued", T0))
    first.close()

    restarted = open_new()
    assert not restarted.claim("claimed", B, T0 + timedelta(seconds=1), STALE_S)  # A beat
    assert restarted.claim("claimed", Instance(A.id, "a-2"), T0 + timedelta(seconds=1), STALE_S)
    assert restarted.completed("sent")
    assert not restarted.claim("sent", Instance(A.id, "a-2"), T0 + timedelta(days=1), STALE_S)
    assert restarted.digest_entries("weekly") == [entry("queued", T0)]


def test_claims_written_before_instance_ids_are_taken_over(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    """A store from before this version: its claims table has no owner; pending rows are
    orphans of a notifier that was stopped for the upgrade."""
    old_schema = (
        "CREATE TABLE notifier_claims (key TEXT PRIMARY KEY, status TEXT NOT NULL,"
        " claimed_at {t} NOT NULL, completed_at {t})"
    )
    pending = "INSERT INTO notifier_claims (key, status, claimed_at) VALUES ('p', 'pending', {v})"
    sent = "INSERT INTO notifier_claims (key, status, claimed_at) VALUES ('s', 'sent', {v})"
    sqlite_path = tmp_path / "old.sqlite3"
    with sqlite3.connect(sqlite_path) as conn:
        for statement in (old_schema, pending, sent):
            conn.execute(statement.format(t="INTEGER", v=0))
    checks = [open_store(None, sqlite_path)]
    postgres_url = request.getfixturevalue("postgres_url")
    with postgres_schema(postgres_url) as url:
        with psycopg.connect(url, autocommit=True) as conn:
            for statement in (old_schema, pending, sent):
                conn.execute(statement.format(t="TIMESTAMPTZ", v="now()"))
        checks.append(open_store(url, sqlite_path))
        for upgraded in checks:
            upgraded.heartbeat(A, T0)
            assert upgraded.claim("p", A, T0, STALE_S)
            assert not upgraded.claim("p", B, T0, STALE_S)  # A's now, and A is alive
            assert not upgraded.claim("s", A, T0, STALE_S)
            upgraded.close()


# digests


def test_digest_entries_dedup_order_oldest_and_remove(store: Store) -> None:
    route = "weekly-digest"
    assert store.oldest_digest_entry(route) is None
    assert store.digest_entries(route) == []
    later, earlier = T0 + timedelta(minutes=5), T0 + timedelta(microseconds=7)
    assert store.add_digest_entry(route, entry("b", later))
    assert store.add_digest_entry(route, entry("z", earlier))
    assert store.add_digest_entry(route, entry("a", earlier, b'{"x":"\xc3\xa9"}\x00'))
    assert not store.add_digest_entry(route, entry("b", T0, b"replaced?"))  # already queued
    assert store.add_digest_entry("other-route", entry("b", T0))  # routes are separate

    assert store.oldest_digest_entry(route) == earlier
    assert store.digest_entries(route) == [
        entry("a", earlier, b'{"x":"\xc3\xa9"}\x00'),
        entry("z", earlier),
        entry("b", later),
    ]
    store.remove_digest_entries(route, ["a", "b", "missing"])
    assert store.digest_entries(route) == [entry("z", earlier)]
    assert store.oldest_digest_entry(route) == earlier
    store.remove_digest_entries(route, [])
    store.remove_digest_entries(route, ["z"])
    assert store.digest_entries(route) == []
    assert store.oldest_digest_entry(route) is None
    assert store.digest_entries("other-route") == [entry("b", T0)]
    assert store.add_digest_entry(route, entry("b", later))  # removed keys can be queued again


def test_digest_times_come_back_as_the_same_instant_in_utc(store: Store) -> None:
    local = datetime(2025, 3, 1, 11, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    store.add_digest_entry("r", entry("k", local))
    [back] = store.digest_entries("r")
    assert back.created_at == local
    assert back.created_at.utcoffset() == timedelta(0)
    oldest = store.oldest_digest_entry("r")
    assert oldest == local
    assert oldest is not None
    assert oldest.utcoffset() == timedelta(0)


# two notifier instances


def test_two_instances_racing_for_the_same_keys_each_key_is_won_once(
    open_new: OpenStore,
) -> None:
    with ThreadPoolExecutor(2) as pool:  # both instances create the schema at once
        instances = list(pool.map(lambda _: open_new(), range(2)))
    keys = [f"case-{i}|NCT0001|eligible|team|email" for i in range(200)]
    threads_per_instance = 3

    def race(now: datetime, round_: str) -> Counter[str]:
        """Each thread a notifier instance of its own (threads of one instance never claim a
        key at once), spread over the two connections; all alive at `now`."""
        start = threading.Barrier(len(instances) * threads_per_instance)

        def worker(store: Store, seed: int) -> list[str]:
            who = Instance(f"notifier-{round_}-{seed}", f"epoch-{round_}")
            store.heartbeat(who, now)
            order = keys[:]
            random.Random(seed).shuffle(order)
            start.wait()
            return [key for key in order if store.claim(key, who, now, STALE_S)]

        jobs = [(s, n) for s in instances for n in range(threads_per_instance)]
        with ThreadPoolExecutor(len(jobs)) as pool:
            futures = [pool.submit(worker, s, seed) for seed, (s, _) in enumerate(jobs)]
            return Counter(key for f in futures for key in f.result())

    assert race(T0, "first") == Counter(keys)  # new keys: every one won exactly once
    # every holder "crashed": once their heartbeats are stale, new instances race for each one
    later = T0 + timedelta(seconds=STALE_S + 1)
    assert race(later, "second") == Counter(keys)
    for key in keys[:100]:
        instances[0].complete(key, later + timedelta(seconds=1))
    late = race(later + timedelta(seconds=3 * STALE_S), "third")
    assert late == Counter(keys[100:])  # sent keys stay sent; the rest taken over once


# the factory


def test_open_store_refuses_urls_it_cannot_honour(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="postgresql://"):
        open_store("mysql://db/notifier", tmp_path / "n.sqlite3")
    assert not (tmp_path / "n.sqlite3").exists()


def test_open_store_without_a_url_uses_the_sqlite_file(tmp_path: Path) -> None:
    for url in (None, ""):
        store = open_store(url, tmp_path / "n.sqlite3")
        assert isinstance(store, SqliteStore)
        store.close()


def test_postgres_store_reconnects_after_the_server_drops_it(postgres_url: str) -> None:
    with postgres_schema(postgres_url) as url:
        store = PostgresStore(url)
        assert store.claim(KEY, A, T0, STALE_S)
        with psycopg.connect(postgres_url, autocommit=True) as admin:
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        with pytest.raises(psycopg.OperationalError):
            store.complete(KEY, T0)  # the caller learns this one failed...
        store.complete(KEY, T0)  # ...and the next call reconnects
        assert store.completed(KEY)
        store.close()


# alerts sent, by case and program (where revocations go)


def test_sent_keys_are_found_by_exact_prefix_across_a_restart(open_new: OpenStore) -> None:
    store = open_new()
    at = datetime(2026, 11, 27, tzinfo=UTC)
    for key in ("c|P1|eligible|t|email", "c|P10|eligible|t|email", "c|P1|x%_|t|email"):
        store.complete(key, at)
    assert store.claim("c|P1|needs_info|t|email", A, at, 5)  # pending: not sent
    store.close()
    reopened = open_new()
    assert reopened.sent_keys("c|P1|") == ["c|P1|eligible|t|email", "c|P1|x%_|t|email"]
    assert reopened.sent_keys("c|P2|") == []
