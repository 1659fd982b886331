"""A claim as both stores read it (its row and its owner's heartbeat row) -> domain values."""

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
    """The claim (`status, owner, epoch` of notifier_claims) and its owner's latest heartbeat
    (`epoch, beat_at` of notifier_instances, None when it has none)."""
    claimant = Instance(owner, epoch) if owner is not None and epoch is not None else None
    beat = Heartbeat(beat_epoch, beat_at) if beat_epoch is not None and beat_at else None
    return Claim(sent=status == "sent", owner=claimant), beat
