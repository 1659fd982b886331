"""structlog JSON logs: one line per fact, ids and counts only, never case content."""

from __future__ import annotations

import logging
import sys

import structlog

__all__ = ["bind_record", "configure_logging", "get_logger", "unbind_record"]


def configure_logging(service: str, level: str = "INFO") -> None:
    """Configure once at start-up; every line carries `service` and an ISO UTC timestamp."""
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(sort_keys=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=True,
    )
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)


def bind_record(topic: str, partition: int, offset: int, case_id: str | None) -> None:
    """Per-record context, replaced for each record."""
    structlog.contextvars.bind_contextvars(
        topic=topic, partition=partition, offset=offset, case_id=case_id
    )


def unbind_record() -> None:
    structlog.contextvars.unbind_contextvars("topic", "partition", "offset", "case_id")


def get_logger() -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.get_logger()
    return logger
