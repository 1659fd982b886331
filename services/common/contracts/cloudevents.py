"""CloudEvents 1.0 in Kafka binary mode: `ce_*` headers, JSON body validated by pydantic."""

from __future__ import annotations

import functools
import json
import typing
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails, InitErrorDetails, PydanticCustomError

from rarematch.common.contracts import EVENT_BODIES

__all__ = [
    "MAX_RECORD_BYTES",
    "REQUIRED_HEADERS",
    "DecodeError",
    "Envelope",
    "WireRecord",
    "decode",
    "describe_validation_error",
    "encode",
    "parse_body",
]

Body = TypeVar("Body", bound=BaseModel)

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
        raise DecodeError("unknown_type", f"ce_type is not one of {', '.join(sorted(accept))}")
    content_type = headers.get("content-type", JSON.encode()).decode("utf-8", "replace")
    if content_type.split(";")[0].strip() != JSON:
        raise DecodeError("bad_content_type", f"content-type is not {JSON}")
    if not record.value:
        raise DecodeError("empty_body", "record has no value; expected a JSON body")
    try:  # attributes only: the body is parsed once, by pydantic, below
        event = ce_kafka.from_binary_event(
            ce_kafka.KafkaMessage(headers=headers, key=record.key, value=b"")
        )
    except Exception as error:  # the SDK's attribute errors share no base class
        raise DecodeError(
            "bad_attributes",
            f"invalid CloudEvents attributes ({type(error).__name__}): check ce_id, ce_source, "
            "ce_time (RFC 3339) and ce_subject",
        ) from error
    body = _validate_body(EVENT_BODIES[event_type], record.value)
    case_id = getattr(body, "case_id", None)
    if case_id is not None and record.key is not None and record.key != case_id.encode():
        raise DecodeError(
            "key_mismatch",
            "the record key differs from data.case_id: key every event by its case id",
        )
    return Envelope(event_type, event.get_id(), event.get_source(), body)


def _header_map(headers: tuple[tuple[str, bytes], ...]) -> dict[str, bytes]:
    return {name.lower(): value or b"" for name, value in headers}


def _validate_body(model: type[BaseModel], value: bytes) -> BaseModel:
    try:
        return parse_body(model, value)
    except ValidationError as error:
        raise DecodeError(
            _reason(error), describe_validation_error(error, from_record=True)
        ) from error


def parse_body(model: type[Body], value: bytes | str) -> Body:
    """A JSON body from outside, read as strictly as the published JSON Schema reads it: no
    coercion (`"12"` and `true` are not numbers), no NaN or infinity, no key given twice.

    Every reader of bodies from files or records uses this: the service, `rarematch publish`,
    `explain` and program tests accept exactly the same bodies.
    """
    _reject_duplicate_keys(value)
    return model.model_validate_json(value, strict=True)


def _reject_duplicate_keys(value: bytes | str) -> None:
    """json.loads with hooks, only to find what the validating parser forgives: a repeated key
    (the last would win, so a second `case_id` would pass the key check) and NaN/Infinity."""
    try:
        json.loads(value, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
    except _Refused as refused:
        raise ValidationError.from_exception_data(
            "body", [InitErrorDetails(type=refused.error, loc=(), input=None)]
        ) from None
    except RecursionError:
        raise ValidationError.from_exception_data(
            "body",
            [
                InitErrorDetails(
                    type=PydanticCustomError("json_invalid", _TOO_DEEP), loc=(), input=None
                )
            ],
        ) from None
    except ValueError:
        pass  # malformed JSON: the validating parser reports it with its position


_TOO_DEEP = "Invalid JSON: nested too deeply (a case is a few levels deep)"


class _Refused(Exception):
    def __init__(self, error: PydanticCustomError) -> None:
        self.error = error


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise _Refused(
            PydanticCustomError(
                "duplicate_key", "an object gives the same key twice: give each key once"
            )
        )
    return result


def _no_constant(name: str) -> object:
    raise _Refused(
        PydanticCustomError("json_invalid", "Invalid JSON: NaN and Infinity are not JSON numbers")
    )


def _reason(error: ValidationError) -> str:
    types = {item["type"] for item in error.errors()}
    if "duplicate_key" in types:
        return "duplicate_key"
    return "bad_json" if _is_json_syntax_error(error) else "schema_violation"


def _is_json_syntax_error(error: ValidationError) -> bool:
    return any(item["type"] in {"json_invalid", "json_type"} for item in error.errors())


def describe_validation_error(
    error: ValidationError, prefix: str = "data", *, from_record: bool = False
) -> str:
    """Pydantic errors as `data.field.path: message` lines, the shape the DLT carries.

    `from_record`: the text goes into logs and dead-letter headers, so a path element that is
    not a name of the schema (an unknown field, a mapping key) is withheld: it was written by
    whoever produced the record and may be anything, a patient's name included.
    """
    return "; ".join(
        f"{'.'.join([prefix, *_path(item, from_record)])}: {item['msg']}"
        for item in error.errors(include_input=False, include_url=False)
    )


_UNKNOWN_FIELD = "<unknown field>"


def _path(item: ErrorDetails, from_record: bool) -> list[str]:
    parts = [str(part) for part in item["loc"]]
    if not from_record:
        return parts
    if item["type"] == "extra_forbidden" and parts:
        parts[-1] = _UNKNOWN_FIELD
    known = _schema_names()
    return [
        part if part.isdigit() or part in known or part == _UNKNOWN_FIELD else "<key>"
        for part in parts
    ]


@functools.cache
def _schema_names() -> frozenset[str]:
    """Every field name and alias of every event body model, nested models included."""
    names: set[str] = set()
    seen: set[type[BaseModel]] = set()
    pending: list[type[BaseModel]] = list(EVENT_BODIES.values())
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            names.update(n for n in (name, info.alias) if n)
            pending.extend(_models_in(info.annotation))
    return frozenset(names)


def _models_in(annotation: object) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [model for arg in typing.get_args(annotation) for model in _models_in(arg)]
