"""Records as the loop sees them: what came in (with its position) and what goes out."""

from __future__ import annotations

from dataclasses import dataclass

from rarematch.common.contracts.case import is_case_id
from rarematch.common.contracts.cloudevents import WireRecord

__all__ = ["Inbound", "Outbound", "RecordRejected"]


@dataclass(frozen=True)
class Inbound:
    topic: str
    partition: int
    offset: int
    record: WireRecord

    @property
    def key_text(self) -> str | None:
        return self.record.key.decode("utf-8", "replace") if self.record.key is not None else None

    @property
    def case_id(self) -> str | None:
        """The key when it is a well-formed case id; anything else is never logged."""
        key = self.key_text
        return key if key is not None and is_case_id(key) else None


@dataclass(frozen=True)
class Outbound:
    topic: str
    record: WireRecord
    partition: int | None = None
    """None: by key (the producer's partitioner); state records name their case's partition."""


class RecordRejected(Exception):
    """Raised by a handler for input it cannot accept; the loop dead-letters the record."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
