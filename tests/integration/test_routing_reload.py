"""The notifier reloads routing.yaml as the eligibility service reloads rules: validated by the
same validator, swapped whole when valid and changed, kept when not (real files, a real
watcher thread, fake channels)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest

from rarematch.common.watch import Reload, watch_directory
from rarematch.eligibility.domain.oncotree import bundled_oncotree
from rarematch.notifier.adapters.memory_store import MemoryStore
from rarematch.notifier.adapters.routing_watcher import RoutingReloader, load_valid_routing
from rarematch.notifier.dispatch import ChannelFactory, Dispatcher
from rarematch.notifier.domain.routing import Routing
from rarematch.notifier.ports import Channel
from tests.fakes import FakeChannel
from tests.integration.test_rules_watcher import reloads, wait_until

REPO = Path(__file__).resolve().parents[2]
NEW_ADDRESS = "new-navigation@coordinators.example.org"


def fake_channels(routing: Routing) -> ChannelFactory:
    def channel(route: str, name: str) -> Channel:
        return FakeChannel(f"{name}:{','.join(routing.routes[route].email)}")

    return channel


@pytest.fixture
def notifier(tmp_path: Path) -> Iterator[tuple[Path, Dispatcher, RoutingReloader]]:
    rules_dir = tmp_path / "rules"
    shutil.copytree(REPO / "rules", rules_dir, ignore=shutil.ignore_patterns("cases"))
    oncotree = bundled_oncotree()
    routing, version = load_valid_routing(rules_dir, oncotree)
    with ThreadPoolExecutor(2) as executor:
        dispatcher = Dispatcher(
            routing=routing,
            channel=fake_channels(routing),
            store=MemoryStore(),
            executor=executor,
            dead_letter_topic="t.DLT",
            now=lambda: datetime.now(UTC),
        )
        yield (
            rules_dir,
            dispatcher,
            RoutingReloader(dispatcher, rules_dir, oncotree, fake_channels, version),
        )


def routing_file(rules_dir: Path) -> Path:
    return rules_dir / "routing.yaml"


def test_a_valid_edit_replaces_the_routes_and_an_invalid_one_keeps_them(
    notifier: tuple[Path, Dispatcher, RoutingReloader],
) -> None:
    rules_dir, dispatcher, reloader = notifier
    text = routing_file(rules_dir).read_text()
    assert reloader.reload() is Reload.UNCHANGED

    routing_file(rules_dir).write_text(
        text.replace("navigation@coordinators.example.org", NEW_ADDRESS, 1)
    )
    assert reloader.reload() is Reload.APPLIED
    assert dispatcher.routing.routes["trial-navigation"].email == [NEW_ADDRESS]
    assert dispatcher.channel("trial-navigation", "email").name == f"email:{NEW_ADDRESS}"

    applied = dispatcher.routing
    routing_file(rules_dir).write_text(text.replace("default_route:", "default_rout:"))
    assert reloader.reload() is Reload.REJECTED
    assert dispatcher.routing is applied


def test_removing_a_route_a_program_names_is_rejected_like_lint_rejects_it(
    notifier: tuple[Path, Dispatcher, RoutingReloader],
) -> None:
    rules_dir, dispatcher, reloader = notifier
    before = dispatcher.routing
    text = routing_file(rules_dir).read_text()
    routing_file(rules_dir).write_text(
        text.replace(
            "  sarcoma-cell-therapy:\n    email: [sarcoma-trials@coordinators.example.org]\n", ""
        )
    )
    assert reloader.reload() is Reload.REJECTED
    assert dispatcher.routing is before


def test_the_watcher_applies_an_edit_after_a_failed_one(
    notifier: tuple[Path, Dispatcher, RoutingReloader],
) -> None:
    rules_dir, dispatcher, reloader = notifier
    stop = threading.Event()
    thread = threading.Thread(
        target=watch_directory, args=(rules_dir, stop, reloader.reload), daemon=True
    )
    thread.start()
    try:
        before = reloads(Reload.UNCHANGED)
        wait_until(
            lambda: reloads(Reload.UNCHANGED) > before,
            "the watcher started",
            routing_file(rules_dir).touch,
        )
        text = routing_file(rules_dir).read_text()
        rejected = reloads(Reload.REJECTED)
        routing_file(rules_dir).write_text("routes: [")
        wait_until(lambda: reloads(Reload.REJECTED) > rejected, "the broken edit was rejected")
        routing_file(rules_dir).write_text(
            text.replace("navigation@coordinators.example.org", NEW_ADDRESS, 1)
        )
        wait_until(
            lambda: dispatcher.routing.routes["trial-navigation"].email == [NEW_ADDRESS],
            "the good edit was applied",
        )
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()
