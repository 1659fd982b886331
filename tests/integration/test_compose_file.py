"""docker-compose.yml is valid and agrees with the code, checked without a Docker engine.

`docker-compose config -q` (Debian package `docker-compose`) validates the file against the
Compose schema; PyYAML checks what the schema cannot: the Kafka version, one image for both
services, and that every `RAREMATCH_*` variable is a settings field the service reads.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from rarematch.common.settings import (
    EligibilitySettings,
    KafkaSettings,
    NotifierSettings,
    env_names,
    known_env_names,
    load_settings,
)
from rarematch.localkafka import KAFKA_VERSION

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
SERVICES_SETTINGS: dict[str, type[KafkaSettings]] = {
    "eligibility": EligibilitySettings,
    "notifier": NotifierSettings,
}


def environment(service: dict[str, Any]) -> dict[str, str]:
    """A service's `environment`, whether written as a mapping or as a `NAME=value` list."""
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {name: str(value) for name, value in env.items()}


def docker_compose() -> str:
    """The docker-compose executable; missing, the test fails (CI must install it)."""
    path = shutil.which("docker-compose")
    if path is None:
        pytest.fail(
            "docker-compose is not installed; it validates docker-compose.yml without a Docker "
            "engine: apt-get install --no-install-recommends docker-compose",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def compose_config(file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [docker_compose(), "-f", str(file), "config", "-q"],
        cwd=file.parent,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_compose_file_is_valid() -> None:
    result = compose_config(COMPOSE_FILE)
    assert result.returncode == 0, result.stderr


def test_validation_rejects_an_unknown_key(compose: dict[str, Any], tmp_path: Path) -> None:
    """The same check fails on a copy with one unknown key, and only because of that key."""
    intact = tmp_path / "intact" / "docker-compose.yml"
    broken = tmp_path / "broken" / "docker-compose.yml"
    for path in (intact, broken):
        path.parent.mkdir()
    intact.write_text(yaml.safe_dump(compose), encoding="utf-8")
    bad = copy.deepcopy(compose)
    bad["services"]["eligibility"]["no_such_option"] = True
    broken.write_text(yaml.safe_dump(bad), encoding="utf-8")

    assert compose_config(intact).returncode == 0
    result = compose_config(broken)
    assert result.returncode != 0
    assert "no_such_option" in result.stdout + result.stderr


def test_kafka_image_is_the_version_the_project_pins(compose: dict[str, Any]) -> None:
    repository, _, tag = compose["services"]["kafka"]["image"].rpartition(":")
    assert repository == "apache/kafka"
    assert tag == KAFKA_VERSION


def test_both_services_build_from_the_same_dockerfile(compose: dict[str, Any]) -> None:
    def dockerfile(name: str) -> Path:
        build = compose["services"][name]["build"]
        if isinstance(build, str):
            build = {"context": build}
        context, file = str(build["context"]), str(build.get("dockerfile", "Dockerfile"))
        return (ROOT / context / file).resolve()

    assert dockerfile("eligibility") == dockerfile("notifier") == DOCKERFILE
    assert DOCKERFILE.is_file()


@pytest.mark.parametrize("service", sorted(SERVICES_SETTINGS))
def test_rarematch_variables_are_settings_of_the_service(
    compose: dict[str, Any], service: str
) -> None:
    used = {
        name for name in environment(compose["services"][service]) if name.startswith("RAREMATCH_")
    }
    known = env_names(SERVICES_SETTINGS[service])
    assert used, f"{service} sets no RAREMATCH_* variable"
    assert used <= known, f"{service}: {sorted(used - known)} are not fields of its settings"


@pytest.mark.parametrize("service", sorted(SERVICES_SETTINGS))
def test_the_values_are_valid_settings(
    compose: dict[str, Any], service: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in environment(compose["services"][service]).items():
        monkeypatch.setenv(name, value)
    load_settings(SERVICES_SETTINGS[service])  # SettingsError: one line per bad variable


def test_every_rarematch_variable_is_a_settings_field(compose: dict[str, Any]) -> None:
    known = known_env_names()  # the services' settings and the image's demo broker's
    used = {
        name
        for service in compose["services"].values()
        for name in environment(service)
        if name.startswith("RAREMATCH_")
    }
    used |= set(re.findall(r"\bRAREMATCH_[A-Z0-9_]*[A-Z0-9]\b", DOCKERFILE.read_text()))
    assert used <= known, f"{sorted(used - known)} are not fields of any settings model"


@pytest.mark.parametrize("service", sorted(SERVICES_SETTINGS))
def test_rules_are_mounted_where_the_service_reads_them(
    compose: dict[str, Any], service: str
) -> None:
    spec = compose["services"][service]
    rules_dir = environment(spec)["RAREMATCH_RULES_DIR"]
    assert f"./rules:{rules_dir}:ro" in spec["volumes"]
    assert f"RAREMATCH_RULES_DIR={rules_dir}" in DOCKERFILE.read_text()


@pytest.mark.parametrize("service", sorted(SERVICES_SETTINGS))
def test_each_service_is_healthchecked_on_readyz(compose: dict[str, Any], service: str) -> None:
    spec = compose["services"][service]
    env = environment(spec)
    port = next(v for k, v in env.items() if k.endswith("_METRICS_PORT"))
    assert f"127.0.0.1:{port}/readyz" in " ".join(spec["healthcheck"]["test"])
    assert env["RAREMATCH_METRICS_HOST"] == "0.0.0.0"
    assert spec["ports"] == [f"127.0.0.1:{port}:{port}"], "published on the host's loopback only"
