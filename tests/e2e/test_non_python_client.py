"""An intake client that is not Python: kcat (librdkafka) publishes, and reads the match back."""

from __future__ import annotations

import json
import shutil
import subprocess
import time

import pytest

from tests.e2e.conftest import CASES, Stack

pytestmark = pytest.mark.kafka


def kcat() -> str:
    path = shutil.which("kcat")
    if path is None:
        pytest.fail("kcat is not installed: apt-get install kcat (.ci/run does)", pytrace=False)
    return path


def test_case_published_with_kcat_is_matched_and_readable_with_kcat(stack: Stack) -> None:
    case = json.loads((CASES / "paediatric-neuroblastoma-gd2.json").read_text())
    subprocess.run(
        [
            kcat(), "-b", stack.bootstrap, "-t", stack.eligibility.cases_topic, "-P",
            "-k", case["case_id"],
            "-H", "ce_specversion=1.0",
            "-H", "ce_id=kcat-0001",
            "-H", "ce_source=/intake/kcat",
            "-H", "ce_type=rarematch.case.submitted",
            "-H", "content-type=application/json",
        ],
        input=json.dumps(case).encode(),
        check=True,
        timeout=30,
    )  # fmt: skip

    lines = _consume_with_kcat(stack, want="NCT06684639", timeout_s=60)
    [line] = [line for line in lines if "NCT06684639" in line]
    key, headers, value = line.split("\t", 2)
    assert key == case["case_id"]
    for header in (
        "ce_specversion=1.0",
        "ce_type=rarematch.match.decided",
        "ce_source=/rarematch/eligibility",
        f"ce_subject={case['case_id']}",
        "content-type=application/json",
    ):
        assert header in headers.split(","), f"{header} missing from {headers}"
    assert "ce_id=" in headers
    assert "ce_time=" in headers
    decision = json.loads(value)
    assert decision["outcome"] == "needs_info"
    assert "ECOG performance status" in decision["facts_to_collect"]


def _consume_with_kcat(stack: Stack, want: str, timeout_s: float) -> list[str]:
    deadline = time.monotonic() + timeout_s
    lines: list[str] = []
    while time.monotonic() < deadline:
        result = subprocess.run(
            [
                kcat(), "-b", stack.bootstrap, "-t", stack.eligibility.matches_topic, "-C",
                "-o", "beginning", "-e", "-q", "-f", "%k\t%h\t%s\n",
            ],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )  # fmt: skip
        lines = [line for line in result.stdout.splitlines() if line.strip()]
        if any(want in line for line in lines):
            return lines
        time.sleep(0.5)
    return lines
