"""Bad settings stop every entry point with one plain line per variable and exit 2.

Each process exits while reading its settings, before it touches Kafka, so no broker is needed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rarematch.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
RAREMATCH = str(Path(sys.executable).with_name("rarematch"))

SERVICES = {
    "python -m rarematch.eligibility": [PYTHON, "-m", "rarematch.eligibility"],
    "python -m rarematch.notifier": [PYTHON, "-m", "rarematch.notifier"],
    "rarematch eligibility": [RAREMATCH, "eligibility"],
    "rarematch notifier": [RAREMATCH, "notifier"],
}


def run(argv: list[str], **settings: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith("RAREMATCH_")}
    env |= {"RAREMATCH_KAFKA_BOOTSTRAP": "127.0.0.1:9", **settings}  # nothing listens on 9
    return subprocess.run(
        argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def assert_bad_settings(result: subprocess.CompletedProcess[str], *variables: str) -> None:
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    named = [re.split(r"[= ]", line.removeprefix("error: "), maxsplit=1)[0] for line in lines]
    assert all(line.startswith("error: ") for line in lines), result.stderr
    assert named == list(variables)


@pytest.mark.parametrize("command", sorted(SERVICES))
def test_an_out_of_range_port_is_one_line(command: str) -> None:
    port = (
        "RAREMATCH_ELIGIBILITY_METRICS_PORT" if "eligibility" in command else "RAREMATCH_SMTP_PORT"
    )
    result = run(SERVICES[command], **{port: "70000"})
    assert_bad_settings(result, port)
    assert "must be at most 65535" in result.stderr


@pytest.mark.parametrize("command", ["python -m rarematch.notifier", "rarematch notifier"])
def test_inverted_retry_bounds_are_one_line_naming_both(command: str) -> None:
    result = run(
        SERVICES[command], RAREMATCH_RETRY_BASE_DELAY_S="5", RAREMATCH_RETRY_MAX_DELAY_S="1"
    )
    assert_bad_settings(result, "RAREMATCH_RETRY_BASE_DELAY_S")
    assert "RAREMATCH_RETRY_MAX_DELAY_S=1" in result.stderr


@pytest.mark.parametrize("command", sorted(SERVICES))
def test_an_unknown_log_level_is_one_line(command: str) -> None:
    result = run(SERVICES[command], RAREMATCH_LOG_LEVEL="chatty")
    assert_bad_settings(result, "RAREMATCH_LOG_LEVEL")
    assert "DEBUG, INFO, WARNING, ERROR or CRITICAL" in result.stderr


def test_several_bad_variables_are_one_line_each() -> None:
    result = run(
        SERVICES["rarematch notifier"],
        RAREMATCH_LOG_LEVEL="chatty",
        RAREMATCH_SMTP_PORT="-1",
        RAREMATCH_NOTIFIER_DATABASE_URL="mysql://u:hunter2@db/x",
    )
    assert_bad_settings(
        result, "RAREMATCH_LOG_LEVEL", "RAREMATCH_SMTP_PORT", "RAREMATCH_NOTIFIER_DATABASE_URL"
    )
    assert "hunter2" not in result.stderr


@pytest.mark.parametrize(
    ("argv", "variable", "value"),
    [
        ([RAREMATCH, "publish", "examples/cases"], "RAREMATCH_KAFKA_BOOTSTRAP", "kafka"),
        ([RAREMATCH, "kafka", "status"], "RAREMATCH_KAFKA_PORT", "ninety"),
        ([RAREMATCH, "demo"], "RAREMATCH_SMTP_TIMEOUT_S", "0"),  # checked before its broker
    ],
)
def test_the_other_commands_check_their_settings_first(
    argv: list[str], variable: str, value: str
) -> None:
    assert_bad_settings(run(argv, **{variable: value}), variable)


def test_a_misspelt_variable_is_warned_about_by_name(tmp_path: Path) -> None:
    result = run(
        [RAREMATCH, "kafka", "status"],
        RAREMATCH_KAFKA_PORT=str(free_port()),
        RAREMATCH_KAFKA_STATE_DIR=str(tmp_path),
        RAREMATCH_KAFAK_PORT="s3cr3t-looking-value",
    )
    assert result.returncode == 1, result.stderr  # not running: status says so
    assert result.stderr.splitlines() == [
        "warning: RAREMATCH_KAFAK_PORT is not a rarematch setting "
        "(did you mean RAREMATCH_KAFKA_PORT?)"
    ]
