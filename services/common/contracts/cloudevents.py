"""CloudEvents 1.0 in Kafka binary mode: `ce_*` headers, JSON body validated by pydantic."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel, ValidationError

from rarematch.common.contracts import EVENT_BODIES

__all__ = [
    "MAX_RECORD_BYTES",
    "REQUIRED_HEADERS",
    "DecodeError",
    "Envelope",
    "WireRecord",
    "decode",
    "encode",
]

MAX_RECORD_BYTES = 1024 * 1024
REQUIRED_HEADERS = ("ce_specversion", "ce_id", "ce_source", "ce_type")
JSON = "application/json"


@dataclass(frozen=True)
class WireRecord:
    """A Kafka record as the clients see it: key, value and headers, all bytes."""

    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Envelope:
    """A decoded event: its CloudEvents attributes and its validated body."""

    event_type: str
    event_id: str
    source: str
    body: BaseModel


class DecodeError(ValueError):
    """A record that is not a valid event; `reason` is a stable code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def encode(
    event_type: str,
    body: BaseModel,
    *,
    key: str,
    source: str,
    event_id: str | None = None,
    time: datetime | None = None,
) -> WireRecord:
    """Serialise `body` as a binary-mode CloudEvent keyed by `key` (the case id)."""
    event = CloudEvent(
        attributes={
            "id": event_id or str(uuid.uuid4()),
            "source": source,
            "type": event_type,
            "subject": key,
            "time": time or datetime.now(UTC),
            "datacontenttype": JSON,
        },
        data=body.model_dump(mode="json", exclude_none=True),
    )
    message = ce_kafka.to_binary_event(event, key_mapper=lambda _: key)
    return WireRecord(
        key=key.encode(),
        value=message.value,
        headers=tuple(sorted(message.headers.items())),
    )


def decode(record: WireRecord, accept: frozenset[str]) -> Envelope:
    """Validate headers, size and body; raise DecodeError saying what is wrong and where."""
    size = len(record.value or b"") + len(record.key or b"")
    if size > MAX_RECORD_BYTES:
        raise DecodeError("too_large", f"record is {size} bytes; the limit is {MAX_RECORD_BYTES}")
    if not record.key:
        raise DecodeError("missing_key", "record has no key: key every event by its case id")
    headers = _header_map(record.headers)
    missing = [name for name in REQUIRED_HEADERS if name not in headers]
    if missing:
        raise DecodeError(
            "missing_headers",
            f"missing CloudEvents header(s) {', '.join(missing)}: publish in binary mode "
            "with ce_specversion=1.0, ce_id, ce_source, ce_type",
        )
    if headers["ce_specversion"] != b"1.0":
        raise DecodeError("bad_specversion", "ce_specversion must be 1.0 (CloudEvents 1.0)")
    event_type = headers["ce_type"].decode("utf-8", "replace")
    if event_type not in accept:
        raise DecodeError(
            "unknown_type", f"ce_type '{event_type}' is not one of {', '.join(sorted(accept))}"
        )
    content_type = headers.get("content-type", JSON.encode()).decode("utf-8", "replace")
    if content_type.split(";")[0].strip() != JSON:
        raise DecodeError("bad_content_type", f"content-type '{content_type}' is not {JSON}")
    if not record.value:
        raise DecodeError("empty_body", "record has no value; expected a JSON body")
    try:  # attributes only: the body is parsed once, by pydantic, below
        event = ce_kafka.from_binary_event(
            ce_kafka.KafkaMessage(headers=headers, key=record.key, value=b"")
        )
    except Exception as error:  # the SDK's attribute errors share no base class
        raise DecodeError("bad_attributes", f"invalid CloudEvents attributes: {error}") from error
    body = _validate_body(EVENT_BODIES[event_type], record.value)
    case_id = getattr(body, "case_id", None)
    if case_id is not None and record.key is not None and record.key != case_id.encode():
        raise DecodeError(
            "key_mismatch",
            f"record key '{record.key.decode('utf-8', 'replace')}' differs from data.case_id "
            f"'{case_id}': key every event by its case id",
        )
    return Envelope(event_type, event.get_id(), event.get_source(), body)


def _header_map(headers: tuple[tuple[str, bytes], ...]) -> dict[str, bytes]:
    return {name.lower(): value or b"" for name, value in headers}


def _validate_body(model: type[BaseModel], value: bytes) -> BaseModel:
    try:
        return model.model_validate_json(value)
    except ValidationError as error:
        reason = "bad_json" if _is_json_syntax_error(error) else "schema_violation"
        raise DecodeError(reason, describe_validation_error(error)) from error


def _is_json_syntax_error(error: ValidationError) -> bool:
    return any(item["type"] in {"json_invalid", "json_type"} for item in error.errors())


def describe_validation_error(error: ValidationError, prefix: str = "data") -> str:
    """Pydantic errors as `data.field.path: message` lines, the shape the DLT carries."""
    return "; ".join(
        f"{'.'.join([prefix, *map(str, item['loc'])])}: {item['msg']}" for item in error.errors()
    )
