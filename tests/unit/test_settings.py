"""Settings say what is wrong: a line per bad variable, secrets never shown, misspellings named."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rarematch.common.service import BAD_SETTINGS_EXIT, settings_from_env
from rarematch.common.setting_types import allowed_text
from rarematch.common.settings import (
    SETTINGS_MODELS,
    EligibilitySettings,
    KafkaSettings,
    LocalKafkaSettings,
    NotifierSettings,
    SettingsError,
    env_name,
    known_env_names,
    load_settings,
    unknown_variables,
)
from rarematch.notifier.domain.routing import Routing


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the variables a test sets (CI exports RAREMATCH_CACHE_DIR, for one)."""
    for name in list(os.environ):
        if name.upper().startswith("RAREMATCH_"):
            monkeypatch.delenv(name)


def problems(monkeypatch: pytest.MonkeyPatch, model: type, **env: str) -> list[str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as raised:
        load_settings(model)
    assert str(raised.value) == "\n".join(raised.value.problems)
    return raised.value.problems


@pytest.mark.parametrize(
    ("name", "value", "line"),
    [
        (
            "RAREMATCH_SMTP_PORT",
            "70000",
            "RAREMATCH_SMTP_PORT='70000': must be at most 65535 (a TCP port, 1-65535)",
        ),
        (
            "RAREMATCH_SMTP_PORT",
            "0",
            "RAREMATCH_SMTP_PORT='0': must be at least 1 (a TCP port, 1-65535)",
        ),
        (
            "RAREMATCH_SMTP_PORT",
            "smtp",
            "RAREMATCH_SMTP_PORT='smtp': is not a whole number (a TCP port, 1-65535)",
        ),
        (
            "RAREMATCH_NOTIFIER_METRICS_PORT",
            "-1",
            "RAREMATCH_NOTIFIER_METRICS_PORT='-1': must be at least 0 "
            "(a TCP port, 1-65535, or 0 to disable)",
        ),
        (
            "RAREMATCH_DELIVERY_WORKERS",
            "0",
            "RAREMATCH_DELIVERY_WORKERS='0': must be at least 1 (a whole number, 1 or more)",
        ),
        (
            "RAREMATCH_RETRY_ATTEMPTS",
            "2.5",
            "RAREMATCH_RETRY_ATTEMPTS='2.5': is not a whole number (a whole number, 1 or more)",
        ),
        (
            "RAREMATCH_SMTP_TIMEOUT_S",
            "0",
            "RAREMATCH_SMTP_TIMEOUT_S='0': must be more than 0 (seconds, a number more than 0)",
        ),
        (
            "RAREMATCH_CLAIM_WAIT_S",
            "inf",
            "RAREMATCH_CLAIM_WAIT_S='inf': must be a finite number (seconds, a number more than 0)",
        ),
        (
            "RAREMATCH_LOG_LEVEL",
            "loud",
            "RAREMATCH_LOG_LEVEL='loud': is not one of the allowed values "
            "(DEBUG, INFO, WARNING, ERROR or CRITICAL, in any case)",
        ),
        (
            "RAREMATCH_SMTP_STARTTLS",
            "maybe",
            "RAREMATCH_SMTP_STARTTLS='maybe': is not true or false "
            "(true/false, 1/0, yes/no or on/off)",
        ),
        (
            "RAREMATCH_CASES_TOPIC",
            "rare cases",
            "RAREMATCH_CASES_TOPIC='rare cases': is not of the allowed form "
            "(a Kafka name: 1-249 of A-Z, a-z, 0-9, '.', '_', '-')",
        ),
        (
            "RAREMATCH_MATCHES_TOPIC",
            "",
            "RAREMATCH_MATCHES_TOPIC='': must not be empty "
            "(a Kafka name: 1-249 of A-Z, a-z, 0-9, '.', '_', '-')",
        ),
        (
            "RAREMATCH_NOTIFIER_GROUP",
            "..",
            "RAREMATCH_NOTIFIER_GROUP='..': is reserved by Kafka "
            "(a Kafka name: 1-249 of A-Z, a-z, 0-9, '.', '_', '-')",
        ),
        (
            "RAREMATCH_KAFKA_BOOTSTRAP",
            "kafka",
            "RAREMATCH_KAFKA_BOOTSTRAP='kafka': is not of the allowed form "
            "(host:port, or several joined by commas)",
        ),
        (
            "RAREMATCH_KAFKA_BOOTSTRAP",
            "a:9092,b:99999",
            "RAREMATCH_KAFKA_BOOTSTRAP='a:9092,b:99999': the port of 'b:99999' must be 1-65535 "
            "(host:port, or several joined by commas)",
        ),
        (
            "RAREMATCH_CASE_URL_TEMPLATE",
            "https://nav.example.org/cases/",
            "RAREMATCH_CASE_URL_TEMPLATE='https://nav.example.org/cases/': has no {case_id}, "
            "so every alert would link the same page (an http(s) URL containing {case_id})",
        ),
        (
            "RAREMATCH_SMTP_FROM",
            "rarematch",
            "RAREMATCH_SMTP_FROM='rarematch': is not of the allowed form "
            "(an email address, e.g. rarematch@example.org)",
        ),
    ],
)
def test_each_kind_of_bad_value_gets_one_line_naming_variable_problem_and_allowed(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, line: str
) -> None:
    assert problems(monkeypatch, NotifierSettings, **{name: value}) == [line]


def test_inverted_retry_bounds_name_both_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    assert problems(monkeypatch, NotifierSettings, RAREMATCH_RETRY_BASE_DELAY_S="10") == [
        "RAREMATCH_RETRY_BASE_DELAY_S=10 is more than RAREMATCH_RETRY_MAX_DELAY_S=8 "
        "(the base delay must not exceed the maximum)"
    ]


def test_equal_retry_bounds_are_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAREMATCH_RETRY_BASE_DELAY_S", "2")
    monkeypatch.setenv("RAREMATCH_RETRY_MAX_DELAY_S", "2")
    settings = load_settings(NotifierSettings)
    assert settings.retry_base_delay_s == settings.retry_max_delay_s == 2


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RAREMATCH_NOTIFIER_DATABASE_URL", "mysql://rarematch:hunter2@db/rarematch"),
        ("RAREMATCH_SMTP_PASSWORD", ""),
    ],
)
def test_a_secret_value_is_never_shown(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    [line] = problems(monkeypatch, NotifierSettings, **{name: value})
    assert line.startswith(f"{name} (value not shown): ")
    assert "=" not in line.split(":", 1)[0]
    if value:
        assert value not in line
        assert "hunter2" not in line


def test_several_bad_variables_give_one_line_each(monkeypatch: pytest.MonkeyPatch) -> None:
    lines = problems(
        monkeypatch,
        NotifierSettings,
        RAREMATCH_SMTP_PORT="70000",
        RAREMATCH_LOG_LEVEL="loud",
        RAREMATCH_TOPIC_PARTITIONS="0",
        RAREMATCH_NOTIFIER_DATABASE_URL="sqlite:///x",
    )
    assert [line.split("=")[0].split(" ")[0] for line in lines] == [
        "RAREMATCH_TOPIC_PARTITIONS",
        "RAREMATCH_LOG_LEVEL",
        "RAREMATCH_SMTP_PORT",
        "RAREMATCH_NOTIFIER_DATABASE_URL",
    ]
    assert all("\n" not in line for line in lines)


def test_a_value_is_quoted_as_written_on_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    [line] = problems(monkeypatch, KafkaSettings, rarematch_cases_topic="two\nlines" + "x" * 200)
    assert line.startswith("RAREMATCH_CASES_TOPIC='two\\nlines")
    assert "\n" not in line
    assert len(line) < 200


def test_valid_values_are_normalised(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAREMATCH_LOG_LEVEL", "debug")
    monkeypatch.setenv("RAREMATCH_KAFKA_BOOTSTRAP", "kafka-1:9092,10.0.0.2:9093,[::1]:9094")
    monkeypatch.setenv("RAREMATCH_NOTIFIER_METRICS_PORT", "0")
    monkeypatch.setenv("RAREMATCH_CASE_URL_TEMPLATE", "https://nav.example.org/c/{case_id}")
    monkeypatch.setenv("RAREMATCH_NOTIFIER_DATABASE_URL", "postgresql://u:p@db:5432/rarematch")
    settings = load_settings(NotifierSettings)
    assert settings.log_level == "DEBUG"
    assert settings.kafka_bootstrap == "kafka-1:9092,10.0.0.2:9093,[::1]:9094"
    assert settings.notifier_metrics_port == 0


def test_defaults_are_valid() -> None:
    for model in SETTINGS_MODELS:
        load_settings(model)


def test_every_setting_says_what_it_allows() -> None:
    undescribed = [
        env_name(model, field)
        for model in SETTINGS_MODELS
        for field, info in model.model_fields.items()
        if allowed_text(info.annotation, info.metadata) is None
    ]
    assert undescribed == []


def test_known_names_come_from_every_model() -> None:
    known = known_env_names()
    assert {"RAREMATCH_SMTP_PORT", "RAREMATCH_ELIGIBILITY_GROUP"} <= known
    assert {"RAREMATCH_KAFKA_PORT", "RAREMATCH_KAFKA_STATE_DIR", "RAREMATCH_CACHE_DIR"} <= known
    assert "RAREMATCH_DEMO_KAFKA_PORT" in known


def test_a_misspelt_variable_is_named_with_the_closest_known_one() -> None:
    environ = {"RAREMATCH_SMPT_PORT": "2525", "RAREMATCH_WHATEVER": "s3cr3t", "HOME": "/root"}
    assert unknown_variables(environ, known_env_names()) == [
        "warning: RAREMATCH_SMPT_PORT is not a rarematch setting "
        "(did you mean RAREMATCH_SMTP_PORT?)",
        "warning: RAREMATCH_WHATEVER is not a rarematch setting",
    ]


def test_known_names_in_any_case_and_extra_names_are_not_warned_about() -> None:
    environ = {"rarematch_smtp_port": "2525", "RAREMATCH_MTB_WEBHOOK_SECRET": "whsec_x"}
    known = known_env_names() | {"RAREMATCH_MTB_WEBHOOK_SECRET"}
    assert unknown_variables(environ, known) == []


def test_an_entry_point_prints_each_bad_variable_and_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAREMATCH_SMTP_PORT", "70000")
    monkeypatch.setenv("RAREMATCH_LOG_LEVEL", "loud")
    with pytest.raises(SystemExit) as exited:
        settings_from_env(NotifierSettings)
    assert exited.value.code == BAD_SETTINGS_EXIT
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2
    assert all(line.startswith("error: RAREMATCH_") for line in err)


def test_an_entry_point_warns_once_about_unknown_names(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAREMATCH_ELIGIBILITY_GRUOP", "mine")
    monkeypatch.setenv("RAREMATCH_HOOK_SECRET", "whsec_x")
    settings = settings_from_env(EligibilitySettings, lambda _: {"RAREMATCH_HOOK_SECRET"})
    assert settings.eligibility_group == "rarematch-eligibility"
    assert capsys.readouterr().err.splitlines() == [
        "warning: RAREMATCH_ELIGIBILITY_GRUOP is not a rarematch setting "
        "(did you mean RAREMATCH_ELIGIBILITY_GROUP?)"
    ]


def test_child_settings_are_checked_by_the_parent(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAREMATCH_SMTP_PORT", "70000")
    monkeypatch.setenv("RAREMATCH_TOPIC_REPLICATION", "0")
    with pytest.raises(SystemExit):
        settings_from_env(LocalKafkaSettings, children=(EligibilitySettings, NotifierSettings))
    err = capsys.readouterr().err.splitlines()
    assert [line.split("=")[0] for line in err] == [
        "error: RAREMATCH_TOPIC_REPLICATION",
        "error: RAREMATCH_SMTP_PORT",
    ]


def test_routing_names_the_variables_its_secrets_come_from() -> None:
    routing = Routing.model_validate(
        {
            "default_route": "a",
            "routes": {
                "a": {
                    "webhook": {"url": "https://h.example.org/", "secret_env": "RAREMATCH_A"},
                    "apprise": {"urls_env": "RAREMATCH_B"},
                },
                "b": {"webhook": {"url": "https://h.example.org/", "secret_file": "/run/s"}},
                "c": {"email": ["x@example.org"]},
            },
        }
    )
    assert routing.env_names == {"RAREMATCH_A", "RAREMATCH_B"}


def test_the_local_broker_reads_its_variables_through_the_model(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from rarematch.localkafka import BrokerConfig

    monkeypatch.setenv("RAREMATCH_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("RAREMATCH_KAFKA_PORT", "29092")
    config = BrokerConfig.from_settings(load_settings(LocalKafkaSettings))
    assert (config.port, config.cache_dir) == (29092, tmp_path / "cache")
    assert config.state_dir == tmp_path / "cache" / "broker-29092"
    monkeypatch.setenv("RAREMATCH_KAFKA_PORT", "65535")
    assert problems(monkeypatch, LocalKafkaSettings) == [
        "RAREMATCH_KAFKA_PORT='65535': must be at most 65534 "
        "(a TCP port, 1-65534; the controller takes the next one)"
    ]


def test_a_near_miss_is_named_before_the_error_it_explains(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAREMATCH_RETRY_BASE_DELAY_S", "10")
    monkeypatch.setenv("RAREMATCH_RETRY_MAX_DELAY", "60")  # meant RAREMATCH_RETRY_MAX_DELAY_S
    monkeypatch.setenv("RAREMATCH_MTB_WEBHOOK_SECRET", "whsec_x")  # routing may name it
    with pytest.raises(SystemExit):
        settings_from_env(NotifierSettings)
    assert capsys.readouterr().err.splitlines() == [
        "warning: RAREMATCH_RETRY_MAX_DELAY is not a rarematch setting "
        "(did you mean RAREMATCH_RETRY_MAX_DELAY_S?)",
        "error: RAREMATCH_RETRY_BASE_DELAY_S=10 is more than RAREMATCH_RETRY_MAX_DELAY_S=8 "
        "(the base delay must not exceed the maximum)",
    ]
