"""Who may take a dedup claim: pure, so both stores decide alike and it is tested alone.

A claim belongs to one notifier *instance* (a stable id: the same after a restart) and one
*incarnation* of it (an epoch, new at every process start). Every incarnation writes a
heartbeat. A pending claim is taken over at once when its holder is known to be gone: an
earlier incarnation of this very instance (it was restarted), an instance that restarted since,
or one whose heartbeat is older than `stale_after`. A claim of a live instance is left alone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

__all__ = ["Claim", "Heartbeat", "Instance", "may_claim", "new_epoch"]


@dataclass(frozen=True)
class Instance:
    """One notifier instance (`id`, stable across restarts) in one process (`epoch`)."""

    id: str
    epoch: str


@dataclass(frozen=True)
class Claim:
    """What a store holds for one key."""

    sent: bool
    owner: Instance | None
    """The incarnation that claimed it; None for a claim written before instance ids."""


@dataclass(frozen=True)
class Heartbeat:
    """The latest heartbeat of an instance id: which incarnation beat, and when."""

    epoch: str
    at: datetime


def may_claim(
    claim: Claim | None,
    owner_beat: Heartbeat | None,
    me: Instance,
    now: datetime,
    stale_after: timedelta,
) -> bool:
    """True if `me` may own the key now.

    Args:
        claim: the key's row, None if it was never claimed (or was released).
        owner_beat: the latest heartbeat of the claim owner's instance id, if any.
        me: the instance asking.
        now: the asking instance's clock.
        stale_after: a heartbeat older than this means its instance is gone.
    """
    if claim is None:
        return True
    if claim.sent:
        return False
    owner = claim.owner
    if owner is None or owner.id == me.id:
        # No owner recorded, this process (re-entrant: a retried batch) or an earlier
        # incarnation of this instance, which cannot be running any more.
        return True
    if owner_beat is None or owner_beat.epoch != owner.epoch:
        return True  # its instance never beat, or restarted since: this claim is orphaned
    return now - owner_beat.at > stale_after


def new_epoch() -> str:
    """A fresh incarnation id for this process."""
    return uuid.uuid4().hex
