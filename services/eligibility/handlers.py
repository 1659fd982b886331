"""What the eligibility service does with each case event and, between batches, with a rule
change: the changes to publish, and the state records that remember them.

Everything a record leads to — match events, the case's decision state, its case state, a
partition's re-match progress — is returned as records for one transaction; local state takes
the writes only once that transaction commits.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime

from kafka.errors import KafkaError

from rarematch.common import metrics
from rarematch.common.contracts import CASE_SUMMARIZED, MATCH_DECIDED, Case, CaseWithdrawn
from rarematch.common.contracts.cloudevents import Envelope, WireRecord, encode
from rarematch.common.kafka.records import Inbound, Outbound, RecordRejected
from rarematch.common.kafka.topics import Topics
from rarematch.common.logging import get_logger
from rarematch.eligibility.domain.engine import EngineError
from rarematch.eligibility.domain.evaluate import CompiledRules
from rarematch.eligibility.domain.lifecycle import Catalogue, Change, DecisionState, withdrawn
from rarematch.eligibility.domain.matching import changes_on_case, changes_on_rematch
from rarematch.eligibility.domain.publication import match_event
from rarematch.eligibility.domain.rematch import (
    PartitionMatching,
    next_slice,
    planned,
    sliced,
)
from rarematch.eligibility.domain.summary import case_summary
from rarematch.eligibility.state import LocalState, PartitionState, matching_key

__all__ = [
    "EVENT_SOURCE",
    "Eligibility",
    "Restore",
    "StateUnavailable",
    "case_state_record",
    "reject_unknown_codes",
]

EVENT_SOURCE = "/rarematch/eligibility"
REMATCH_SLICE = 500
"""Cases re-matched between two polls: new case events wait at most one slice."""

Restore = Callable[[Iterable[int]], dict[int, PartitionState]]
"""Reads the state of the given partitions from the changelog topics."""


class StateUnavailable(KafkaError):  # type: ignore[misc]
    """A partition's state could not be restored: the batch waits (a transport error)."""


@dataclass
class Eligibility:
    rules: Callable[[], AbstractContextManager[CompiledRules]]
    state: LocalState
    topics: Topics
    now: Callable[[], datetime]
    restore: Restore
    slice_size: int = REMATCH_SLICE
    _catalogue: tuple[str, Catalogue] | None = None
    _planned_for: str | None = None
    _rematch: _Progress = field(default_factory=lambda: _Progress())

    # --- case events ---------------------------------------------------------------------

    def handle(self, envelope: Envelope, inbound: Inbound) -> list[Outbound]:
        """Route one decoded case event: its changes, then the case's new state."""
        partition = inbound.partition
        if not self.state.owns(partition):  # restoring on assignment failed: try again
            self._restore({partition})
        if isinstance(envelope.body, CaseWithdrawn):
            return self._withdraw(envelope.body.case_id, partition)
        assert isinstance(envelope.body, Case)
        case = envelope.body
        with self.rules() as current:
            reject_unknown_codes(case, current)
            catalogue = self.catalogue(current)
            before = self.state.decisions(partition, case.case_id)
            try:
                with metrics.EVALUATION_SECONDS.time():
                    changes, after = changes_on_case(case, before, current, catalogue, self.now())
            except EngineError as error:  # this case trips an engine limit: park it
                raise RecordRejected(
                    "evaluation_failed",
                    f"{error}; the case is kept here for a rules fix and replay",
                ) from error
            out = self._published(changes, before, after, partition, current, catalogue)
        get_logger().info(
            "case_evaluated",
            rules_version=current.version,
            programs=len(current.programs),
            changes=len(changes),
            open=len(after.open),
        )
        state_record = case_state_record(envelope, case, self.topics.case_state.name, partition)
        if self.state.case_bytes(partition, case.case_id) != state_record.record.value:
            self.state.put_case(partition, case.case_id, state_record.record.value)
            out.append(state_record)
        return out

    def _withdraw(self, case_id: str, partition: int) -> list[Outbound]:
        before = self.state.decisions(partition, case_id)
        changes, after = withdrawn(before)
        with self.rules() as current:
            out = self._published(
                changes,
                before,
                after,
                partition,
                current,
                self.catalogue(current),
                withdrawn=True,
            )
        get_logger().info("case_withdrawn", revoked=len(changes))
        self.state.put_case(partition, case_id, None)
        tombstone = WireRecord(key=case_id.encode(), value=None)
        return [*out, Outbound(self.topics.case_state.name, tombstone, partition)]

    def _published(
        self,
        changes: Sequence[Change],
        before: DecisionState,
        after: DecisionState,
        partition: int,
        rules: CompiledRules,
        catalogue: Catalogue,
        *,
        withdrawn: bool = False,
    ) -> list[Outbound]:
        """The match events of `changes`; when the decisions changed, the new decision state
        and the case's new summary."""
        now = self.now()
        out = []
        for change in changes:
            event = match_event(change, after.case_id, rules, catalogue, now)
            metrics.MATCH_EVENTS.labels(event.outcome.value).inc()
            metrics.MATCH_CHANGES.labels(change.reason.value).inc()
            record = encode(MATCH_DECIDED, event, key=event.case_id, source=EVENT_SOURCE)
            out.append(Outbound(self.topics.matches.name, record))
        if after != before:
            value = self.state.put_decisions(partition, after)
            record = WireRecord(key=after.case_id.encode(), value=value)
            out.append(Outbound(self.topics.decision_state.name, record, partition))
            out.append(self._summary(after, rules, now, withdrawn=withdrawn))
        return out

    def _summary(
        self, state: DecisionState, rules: CompiledRules, now: datetime, *, withdrawn: bool
    ) -> Outbound:
        summary = case_summary(state, rules, now, withdrawn=withdrawn)
        metrics.CASE_SUMMARIES.inc()
        record = encode(CASE_SUMMARIZED, summary, key=state.case_id, source=EVENT_SOURCE)
        return Outbound(self.topics.case_summaries.name, record)

    def catalogue(self, rules: CompiledRules) -> Catalogue:
        if self._catalogue is None or self._catalogue[0] != rules.version:
            self._catalogue = (rules.version, Catalogue.of(rules.programs))
        return self._catalogue[1]

    # --- re-matching, between batches ----------------------------------------------------

    def partitions_assigned(self, partitions: set[int]) -> None:
        """The group's new assignment: state of partitions no longer ours is dropped, that of
        new ones read from the changelog (a failure here is retried when a record needs it)."""
        self.state.drop(set(self.state) - partitions)
        self._planned_for = None
        try:
            self._restore(partitions - set(self.state))
        except StateUnavailable as error:
            get_logger().warning("state_restore_failed", error=str(error))

    def _restore(self, partitions: set[int]) -> None:
        if not partitions:
            return
        try:
            restored = self.restore(sorted(partitions))
        except Exception as error:  # the changelog is unreadable now: retry, never guess
            raise StateUnavailable(
                f"state of partitions {sorted(partitions)} not restored "
                f"({type(error).__name__}: {error})"
            ) from error
        self.state.assign(restored)
        self._planned_for = None
        metrics.STATE_BYTES.set(sum(p.state_bytes for p in self.state.partitions.values()))

    def busy(self) -> bool:
        """Whether a re-match is under way (the loop then polls without waiting)."""
        return any((m := self.state.matching(p)) is not None and m.rematching for p in self.state)

    def tick(self) -> list[Outbound]:
        """Bring partitions to the live catalogue, then re-match one slice of cases."""
        with self.rules() as current:
            catalogue = self.catalogue(current)
            out = self._plan(current, catalogue)
            budget = self.slice_size
            for partition in self.state:
                progress = self.state.matching(partition)
                if budget <= 0 or progress is None or not progress.rematching:
                    continue
                done, records = self._slice(partition, progress, budget, current, catalogue)
                budget -= len(done)
                out.extend(records)
        self._report()
        return out

    def _plan(self, rules: CompiledRules, catalogue: Catalogue) -> list[Outbound]:
        if self._planned_for == rules.version:
            return []
        self._planned_for = rules.version
        out = []
        for partition in self.state:
            progress = self.state.matching(partition)
            after = planned(progress, catalogue)
            if after == progress:
                continue
            if after.rematching:
                cases = len(self.state.case_ids(partition))
                self._rematch.started(partition, cases)
                get_logger().info(
                    "rematch_started",
                    partition=partition,
                    programs=len(after.programs),
                    cases=cases,
                    rules_version=rules.version,
                )
            out.append(self._progress_record(partition, after))
        return out

    def _slice(
        self,
        partition: int,
        progress: PartitionMatching,
        budget: int,
        rules: CompiledRules,
        catalogue: Catalogue,
    ) -> tuple[list[str], list[Outbound]]:
        ids = self.state.case_ids(partition)
        todo = next_slice(progress, ids, budget)
        out: list[Outbound] = []
        for case_id in todo:
            case = self.state.case(partition, case_id)
            if case is None:  # withdrawn in this very batch
                continue
            before = self.state.decisions(partition, case_id)
            try:
                changes, after = changes_on_rematch(
                    case, before, rules, catalogue, progress.programs, self.now()
                )
            except EngineError:  # refused now as it would be on arrival: keep its decisions
                get_logger().warning("rematch_case_refused", partition=partition)
                continue
            out.extend(self._published(changes, before, after, partition, rules, catalogue))
            self._rematch.changes += len(changes)
        metrics.REMATCH_CASES.inc(len(todo))
        after_slice = sliced(progress, todo, ids)
        out.append(self._progress_record(partition, after_slice))
        self._rematch.done(partition, len(todo), finished=not after_slice.rematching)
        return todo, out

    def _progress_record(self, partition: int, progress: PartitionMatching) -> Outbound:
        self.state.put_matching(partition, progress)
        key = matching_key(partition).encode()
        record = WireRecord(key=key, value=progress.model_dump_json().encode())
        return Outbound(self.topics.decision_state.name, record, partition)

    def _report(self) -> None:
        metrics.STATE_CASES.set(self.state.cases)
        metrics.REMATCH_REMAINING.set(self._rematch.remaining)

    # --- the transaction's outcome -------------------------------------------------------

    def committed(self) -> None:
        self.state.commit()

    def abandoned(self) -> None:
        self.state.discard()
        self._planned_for = None
        self._rematch.abandoned()


@dataclass
class _Progress:
    """Re-match progress for logs and metrics (the durable progress is in the changelog)."""

    remaining: int = 0
    changes: int = 0
    started_at: float = 0.0
    logged_at: float = 0.0
    _pending_done: int = 0

    def started(self, partition: int, cases: int) -> None:
        if self.remaining == 0:
            self.started_at = self.logged_at = time.monotonic()
            self.changes = 0
        self.remaining += cases

    def done(self, partition: int, cases: int, *, finished: bool) -> None:
        self.remaining = max(0, self.remaining - cases)
        now = time.monotonic()
        if finished and self.remaining == 0:
            get_logger().info(
                "rematch_finished",
                changes=self.changes,
                seconds=round(now - self.started_at, 2),
            )
        elif now - self.logged_at >= 5.0:
            self.logged_at = now
            get_logger().info("rematch_progress", remaining=self.remaining, changes=self.changes)

    def abandoned(self) -> None:
        self.remaining = 0


def reject_unknown_codes(case: Case, rules: CompiledRules) -> None:
    """An OncoTree code the tree does not know cannot be matched: dead-letter, do not guess."""
    if case.diagnosis is None or case.diagnosis.oncotree_code in rules.oncotree:
        return
    raise RecordRejected(  # no code in the message: it is case content, and it is logged
        "unknown_oncotree_code",
        f"data.diagnosis.oncotree_code: not an OncoTree {rules.oncotree.version} code; "
        "correct it at intake and resubmit",
    )


def case_state_record(envelope: Envelope, case: Case, topic: str, partition: int) -> Outbound:
    """The latest valid case, under its own event's type and id (compaction keeps the last),
    on its case's partition number so an instance restores the cases it owns."""
    record = encode(
        envelope.event_type,
        case,
        key=case.case_id,
        source=EVENT_SOURCE,
        event_id=envelope.event_id,
    )
    return Outbound(topic, record, partition)
