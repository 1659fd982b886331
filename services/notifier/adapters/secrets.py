"""Channel secrets (signing keys, Apprise URLs) read from an environment variable or a file."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

from pydantic import SecretStr

__all__ = ["SecretError", "read_secret", "read_urls"]

# A new URL starts where a comma or whitespace is followed by `scheme://`; a comma inside a
# URL (Apprise uses them in query strings, e.g. `?to=a@x,b@y`) is kept.
_URL_BREAK = re.compile(r"[\s,]+(?=[A-Za-z][A-Za-z0-9+.-]*://)")


class SecretError(ValueError):
    """A secret is missing or empty; the message names its source, never its value."""


def read_secret(
    env: str | None, file: str | None, *, environ: Mapping[str, str] | None = None
) -> SecretStr:
    """The secret from environment variable `env` or file `file` (exactly one), stripped."""
    return SecretStr(_read(env, file, environ, what="secret"))


def read_urls(
    env: str | None, file: str | None, *, environ: Mapping[str, str] | None = None
) -> list[SecretStr]:
    """URLs (which carry tokens) from `env` (comma/newline separated) or `file` (one a line).

    Blank lines and lines starting with `#` are skipped; at least one URL is required.
    """
    raw = _read(env, file, environ, what="URL list")
    lines = [line.strip() for line in raw.splitlines()]
    urls = [
        url
        for line in lines
        if line and not line.startswith("#")
        for url in _URL_BREAK.split(line)
        if url.strip(" ,")
    ]
    if not urls:
        raise SecretError(f"{_source(env, file)} holds no URLs")
    return [SecretStr(url.strip(" ,")) for url in urls]


def _read(env: str | None, file: str | None, environ: Mapping[str, str] | None, what: str) -> str:
    if (env is None) == (file is None):
        raise SecretError(f"give the {what} as an environment variable or a file (one of them)")
    if env is not None:
        value = (os.environ if environ is None else environ).get(env)
        if value is None:
            raise SecretError(f"environment variable {env} is not set (it should hold the {what})")
    else:
        assert file is not None
        try:
            value = Path(file).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SecretError(f"{what} file {file} does not exist") from None
        except (OSError, UnicodeDecodeError) as error:
            raise SecretError(
                f"{what} file {file} cannot be read ({type(error).__name__})"
            ) from None
    value = value.strip()
    if not value:
        raise SecretError(f"{_source(env, file)} is empty (it should hold the {what})")
    return value


def _source(env: str | None, file: str | None) -> str:
    return f"environment variable {env}" if env is not None else f"file {file}"
