"""Publish case JSON files as binary-mode CloudEvents: the demo's and a tester's intake client."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from pydantic import ValidationError

from rarematch.common.contracts import CASE_SUBMITTED, CASE_UPDATED, CASE_WITHDRAWN, EVENT_BODIES
from rarematch.common.contracts.cloudevents import describe_validation_error, encode, parse_body
from rarematch.common.kafka.security import (
    CONNECT_TIMEOUT_MS,
    KafkaUnreachable,
    explained_connection_errors,
)

__all__ = ["EVENT_TYPES", "PublishError", "case_files", "publish_cases"]

EVENT_TYPES = {"submitted": CASE_SUBMITTED, "updated": CASE_UPDATED, "withdrawn": CASE_WITHDRAWN}
SOURCE = "/rarematch/cli/publish"


class PublishError(ValueError):
    pass


def case_files(paths: Iterable[Path]) -> list[Path]:
    """Files as given, and every `*.json` inside a directory, sorted."""
    found: list[Path] = []
    for path in paths:
        found.extend(sorted(path.glob("*.json")) if path.is_dir() else [path])
    return found


def publish_cases(
    files: list[Path],
    bootstrap: str,
    topic: str,
    event: str,
    security: Mapping[str, Any] | None = None,
) -> list[str]:
    """Validate every file first (nothing is sent if one is invalid), then send with acks=all.

    `security`: `client_security(settings)` (TLS, SASL); none is PLAINTEXT."""
    event_type = EVENT_TYPES[event]
    model = EVENT_BODIES[event_type]
    bodies = []
    for file in files:
        try:
            bodies.append(parse_body(model, file.read_bytes()))
        except ValidationError as error:
            raise PublishError(f"{file}: {describe_validation_error(error)}") from error
    secure = dict(security or {})
    try:
        with explained_connection_errors(bootstrap, secure):
            producer = KafkaProducer(
                bootstrap_servers=bootstrap,
                acks="all",
                bootstrap_timeout_ms=CONNECT_TIMEOUT_MS,
                **secure,
            )
    except KafkaUnreachable as error:
        raise PublishError(str(error)) from None
    try:
        futures = []
        for body in bodies:
            case_id = str(body.case_id)
            record = encode(event_type, body, key=case_id, source=SOURCE)
            futures.append(
                producer.send(
                    topic, value=record.value, key=record.key, headers=list(record.headers)
                )
            )
        producer.flush()
        for future in futures:
            future.get(timeout=30)
    finally:
        producer.close()
    return [str(body.case_id) for body in bodies]
