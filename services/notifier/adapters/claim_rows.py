"""A claim row as both stores read it (the claim joined with its owner's heartbeat) -> domain."""

from __future__ import annotations

from datetime import datetime

from rarematch.notifier.domain.claims import Claim, Heartbeat, Instance

__all__ = ["holder"]


def holder(
    status: str,
    owner: str | None,
    epoch: str | None,
    beat_epoch: str | None,
    beat_at: datetime | None,
) -> tuple[Claim, Heartbeat | None]:
    """The claim and its owner's latest heartbeat, from the row both stores select:
    `c.status, c.owner, c.epoch, h.epoch, h.beat_at` (claims joined with instances)."""
    claimant = Instance(owner, epoch) if owner is not None and epoch is not None else None
    beat = Heartbeat(beat_epoch, beat_at) if beat_epoch is not None and beat_at else None
    return Claim(sent=status == "sent", owner=claimant), beat
