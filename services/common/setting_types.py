"""Constrained types for settings, each carrying the one-line text of what it allows.

A type is `Annotated[base, pydantic constraints…, Allowed("what is allowed")]`; the settings
loader puts the `Allowed` text after the problem in its error line, and the README table lists
it, so the constraint, the message and the documentation cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, StringConstraints

__all__ = [
    "Allowed",
    "Bootstrap",
    "CaseUrlTemplate",
    "Count",
    "DatabaseUrl",
    "EmailAddress",
    "ExistingFile",
    "Flag",
    "Host",
    "KafkaName",
    "LocalBrokerPort",
    "LogLevel",
    "MetricsPort",
    "PathToDirectory",
    "PathToFile",
    "Port",
    "SaslMechanism",
    "Seconds",
    "Secret",
    "SecurityProtocol",
    "Text",
    "allowed_text",
    "is_secret",
]

_MAX_PORT = 65535


@dataclass(frozen=True)
class Allowed:
    """What a setting accepts, in words (`a TCP port, 1-65535`), for errors and the README."""

    text: str


def allowed_text(annotation: Any, metadata: list[Any] | None = None) -> str | None:
    """The `Allowed` text of a field (given its annotation and pydantic metadata), if any."""
    for item in metadata or ():
        if isinstance(item, Allowed):
            return item.text
    for item in getattr(annotation, "__metadata__", ()):
        if isinstance(item, Allowed):
            return item.text
    for arg in get_args(annotation):
        found = allowed_text(arg)
        if found is not None:
            return found
    return None


def is_secret(annotation: Any) -> bool:
    """Whether a field holds a secret (a `SecretStr`, possibly optional or annotated)."""
    if annotation is SecretStr:
        return True
    if get_origin(annotation) is Literal:
        return False
    return any(is_secret(arg) for arg in get_args(annotation))


def _upper(value: object) -> object:
    return value.upper() if isinstance(value, str) else value


Port = Annotated[int, Field(ge=1, le=_MAX_PORT), Allowed("a TCP port, 1-65535")]
MetricsPort = Annotated[
    int, Field(ge=0, le=_MAX_PORT), Allowed("a TCP port, 1-65535, or 0 to disable")
]
LocalBrokerPort = Annotated[
    int,
    Field(ge=1, le=_MAX_PORT - 1),
    Allowed("a TCP port, 1-65534; the controller takes the next one"),
]
Flag = Annotated[bool, Allowed("true/false, 1/0, yes/no or on/off")]
Text = Annotated[str, StringConstraints(min_length=1), Allowed("any text, not empty")]
Secret = Annotated[
    SecretStr, Field(min_length=1), Allowed("any text, not empty; a secret, never printed")
]
PathToFile = Annotated[Path, Allowed("a file path")]
PathToDirectory = Annotated[Path, Allowed("a directory path")]


def _readable_file(path: Path) -> Path:
    if not path.is_file():
        raise ValueError("is not a file (no such file, or a directory)")
    try:
        with path.open("rb"):
            pass
    except OSError as error:
        raise ValueError(f"cannot be read ({error.strerror})") from None
    return path


ExistingFile = Annotated[Path, AfterValidator(_readable_file), Allowed("a path to a readable file")]
Count = Annotated[int, Field(ge=1), Allowed("a whole number, 1 or more")]
Seconds = Annotated[
    float, Field(gt=0, allow_inf_nan=False), Allowed("seconds, a number more than 0")
]
LogLevel = Annotated[
    Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"],
    BeforeValidator(_upper),
    Allowed("DEBUG, INFO, WARNING, ERROR or CRITICAL, in any case"),
]

SecurityProtocol = Annotated[
    Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"],
    BeforeValidator(_upper),
    Allowed("PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, in any case"),
]
SaslMechanism = Annotated[
    Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"],
    BeforeValidator(_upper),
    Allowed("SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN, in any case"),
]


def _not_dot_or_dots(name: str) -> str:
    if name in {".", ".."}:
        raise ValueError("is reserved by Kafka")
    return name


KafkaName = Annotated[
    str,
    StringConstraints(min_length=1, max_length=249, pattern=r"^[A-Za-z0-9._-]+$"),
    AfterValidator(_not_dot_or_dots),
    Allowed("a Kafka name: 1-249 of A-Z, a-z, 0-9, '.', '_', '-'"),
]

_HOST = r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)"
_HOST_PORT = rf"{_HOST}:[0-9]{{1,5}}"


def _ports_in_range(bootstrap: str) -> str:
    for server in bootstrap.split(","):
        port = int(server.rsplit(":", 1)[1])
        if not 1 <= port <= _MAX_PORT:
            raise ValueError(f"the port of {server!r} must be 1-65535")
    return bootstrap


Bootstrap = Annotated[
    str,
    StringConstraints(pattern=rf"^{_HOST_PORT}(?:,{_HOST_PORT})*$"),
    AfterValidator(_ports_in_range),
    Allowed("host:port, or several joined by commas"),
]
Host = Annotated[
    str,
    StringConstraints(pattern=rf"^(?:{_HOST}|[0-9A-Fa-f.]*:[0-9A-Fa-f:.]*)$"),
    Allowed("a host name or IP address"),
]
EmailAddress = Annotated[
    str,
    StringConstraints(pattern=r"^[^@\s]+@[^@\s]+$"),
    Allowed("an email address, e.g. rarematch@example.org"),
]

CASE_ID_PLACEHOLDER = "{case_id}"


def _has_case_id(template: str) -> str:
    if CASE_ID_PLACEHOLDER not in template:
        raise ValueError(f"has no {CASE_ID_PLACEHOLDER}, so every alert would link the same page")
    return template


CaseUrlTemplate = Annotated[
    str,
    StringConstraints(pattern=r"^https?://\S+$"),
    AfterValidator(_has_case_id),
    Allowed("an http(s) URL containing {case_id}"),
]

_POSTGRES_URL = re.compile(r"^postgres(?:ql)?://\S+$")


def _postgres_url(url: SecretStr) -> SecretStr:
    if not _POSTGRES_URL.match(url.get_secret_value()):
        raise ValueError("is not a PostgreSQL URL")
    return url


DatabaseUrl = Annotated[
    SecretStr,
    AfterValidator(_postgres_url),
    Allowed("postgresql://user:password@host:port/database; a secret, never printed"),
]
