"""The eligibility service's local state: per owned partition, the active cases, their open
decisions and the catalogue the partition is matched with.

It is a cache of two compacted topics (case-state and decision-state), rebuilt on partition
assignment and dropped on revocation. Writes made while a batch is handled are pending until
the batch's transaction commits (`commit`) and vanish if it aborts (`discard`), so local state
never runs ahead of what Kafka holds. Values are kept as the bytes the topics hold: a case is
parsed only when it is re-matched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Literal

from rarematch.common.contracts import Case
from rarematch.eligibility.domain.lifecycle import DecisionState
from rarematch.eligibility.domain.rematch import PartitionMatching

__all__ = ["MATCHING_KEY_PREFIX", "LocalState", "PartitionState", "matching_key"]

MATCHING_KEY_PREFIX = "#matching/"
"""Decision-state keys of partition progress; a case id cannot start with '#'."""

Kind = Literal["case", "decisions"]


def matching_key(partition: int) -> str:
    return f"{MATCHING_KEY_PREFIX}{partition}"


@dataclass
class PartitionState:
    cases: dict[str, bytes] = field(default_factory=dict)
    """Case id -> the case's JSON, as on the case-state topic."""
    decisions: dict[str, bytes] = field(default_factory=dict)
    """Case id -> its DecisionState JSON, as on the decision-state topic (open ones only)."""
    matching: PartitionMatching | None = None

    def restore(
        self, topic_kind: Kind | Literal["matching"], key: str, value: bytes | None
    ) -> None:
        """One changelog record, in offset order: the last per key wins; None deletes."""
        if topic_kind == "matching":
            self.matching = None if value is None else PartitionMatching.model_validate_json(value)
            return
        table = self.cases if topic_kind == "case" else self.decisions
        if value is None:
            table.pop(key, None)
        else:
            table[key] = value

    @property
    def state_bytes(self) -> int:
        return sum(len(v) for v in self.decisions.values())


@dataclass
class LocalState:
    partitions: dict[int, PartitionState] = field(default_factory=dict)
    _pending: dict[tuple[int, Kind, str], bytes | None] = field(default_factory=dict)
    _pending_matching: dict[int, PartitionMatching] = field(default_factory=dict)
    _sorted_ids: dict[int, list[str]] = field(default_factory=dict)

    def owns(self, partition: int) -> bool:
        return partition in self.partitions

    def assign(self, restored: dict[int, PartitionState]) -> None:
        self.partitions.update(restored)
        for partition in restored:
            self._sorted_ids.pop(partition, None)

    def drop(self, partitions: Iterable[int]) -> None:
        for partition in partitions:
            self.partitions.pop(partition, None)
            self._sorted_ids.pop(partition, None)

    def case(self, partition: int, case_id: str) -> Case | None:
        raw = self._read(partition, "case", case_id)
        return None if raw is None else Case.model_validate_json(raw)

    def case_bytes(self, partition: int, case_id: str) -> bytes | None:
        return self._read(partition, "case", case_id)

    def decisions(self, partition: int, case_id: str) -> DecisionState:
        raw = self._read(partition, "decisions", case_id)
        if raw is None:
            return DecisionState(case_id=case_id)
        return DecisionState.model_validate_json(raw)

    def matching(self, partition: int) -> PartitionMatching | None:
        if partition in self._pending_matching:
            return self._pending_matching[partition]
        owned = self.partitions.get(partition)
        return owned.matching if owned else None

    def put_case(self, partition: int, case_id: str, value: bytes | None) -> None:
        self._pending[(partition, "case", case_id)] = value

    def put_decisions(self, partition: int, state: DecisionState) -> bytes | None:
        """Stage `state`; returns the changelog value (None: a tombstone, nothing open)."""
        value = state.model_dump_json().encode() if state.open else None
        self._pending[(partition, "decisions", state.case_id)] = value
        return value

    def put_matching(self, partition: int, progress: PartitionMatching) -> None:
        self._pending_matching[partition] = progress

    def commit(self) -> None:
        for (partition, kind, key), value in self._pending.items():
            owned = self.partitions.get(partition)
            if owned is None:
                continue
            had = key in owned.cases
            owned.restore(kind, key, value)
            if kind == "case" and had != (key in owned.cases):
                self._sorted_ids.pop(partition, None)
        for partition, progress in self._pending_matching.items():
            if partition in self.partitions:
                self.partitions[partition].matching = progress
        self.discard()

    def discard(self) -> None:
        self._pending.clear()
        self._pending_matching.clear()

    def case_ids(self, partition: int) -> list[str]:
        """The partition's committed case ids, sorted (cached until a case comes or goes)."""
        if partition not in self._sorted_ids:
            self._sorted_ids[partition] = sorted(self.partitions[partition].cases)
        return self._sorted_ids[partition]

    def __iter__(self) -> Iterator[int]:
        return iter(sorted(self.partitions))

    @property
    def cases(self) -> int:
        return sum(len(p.cases) for p in self.partitions.values())

    def _read(self, partition: int, kind: Kind, key: str) -> bytes | None:
        pending = (partition, kind, key)
        if pending in self._pending:
            return self._pending[pending]
        owned = self.partitions.get(partition)
        if owned is None:
            return None
        return (owned.cases if kind == "case" else owned.decisions).get(key)
