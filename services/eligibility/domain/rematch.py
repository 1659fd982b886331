"""Re-matching after a rule change, per partition: which programs, which cases are left.

Every partition of the case topic remembers the catalogue its cases are up to date with.
When the live catalogue differs, the programs that changed are re-evaluated against each of
the partition's cases, in case-id order and in bounded slices; progress is stored with the
decisions (in the same transaction), so a crash resumes after the last case done.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from rarematch.eligibility.domain.lifecycle import Catalogue

__all__ = ["PartitionMatching", "next_slice", "planned", "sliced"]


class PartitionMatching(BaseModel):
    """The catalogue a partition's cases are matched against, and a re-match under way."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    versions: dict[str, str]
    closed: tuple[str, ...] = ()
    rematching: bool = False
    programs: tuple[str, ...] = ()
    """Programs still to re-evaluate for the cases after `done_through`."""
    done_through: str | None = None
    """The last case id re-matched (cases are visited in id order); None: none yet."""

    @classmethod
    def at(cls, catalogue: Catalogue) -> PartitionMatching:
        return cls(versions=dict(catalogue.versions), closed=tuple(sorted(catalogue.closed)))

    @property
    def catalogue(self) -> Catalogue:
        return Catalogue(versions=self.versions, closed=frozenset(self.closed))


def planned(progress: PartitionMatching | None, current: Catalogue) -> PartitionMatching:
    """The partition's progress once `current` is live.

    A partition seen for the first time is taken as matched with `current`. A change while a
    re-match is under way starts over from the first case with both sets of programs: a
    program re-evaluated needlessly only costs time, as an unchanged decision publishes nothing.
    """
    if progress is None:
        return PartitionMatching.at(current)
    before = progress.catalogue
    if before == current:
        return progress
    changed = set(current.changed_since(before))
    if progress.rematching:
        changed |= set(progress.programs)
    needed = progress.rematching or current.differs_from(before)
    return PartitionMatching.at(current).model_copy(
        update={"rematching": needed, "programs": tuple(sorted(changed)) if needed else ()}
    )


def next_slice(progress: PartitionMatching, case_ids: Sequence[str], size: int) -> list[str]:
    """The next at most `size` case ids to re-match; `case_ids` sorted."""
    if not progress.rematching:
        return []
    start = (
        0 if progress.done_through is None else bisect.bisect_right(case_ids, progress.done_through)
    )
    return list(case_ids[start : start + size])


def sliced(
    progress: PartitionMatching, done: Sequence[str], case_ids: Sequence[str]
) -> PartitionMatching:
    """Progress after re-matching `done`; finished when no case is left after it."""
    if not done or bisect.bisect_right(case_ids, done[-1]) >= len(case_ids):
        return progress.model_copy(
            update={"rematching": False, "programs": (), "done_through": None}
        )
    return progress.model_copy(update={"done_through": done[-1]})
