"""Frozen settings read from `RAREMATCH_*` environment variables, one model per service."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["EligibilitySettings", "KafkaSettings", "NotifierSettings"]


class KafkaSettings(BaseSettings):
    """Broker address and topic names shared by both services."""

    model_config = SettingsConfigDict(env_prefix="RAREMATCH_", frozen=True, extra="ignore")

    kafka_bootstrap: str = Field(default="127.0.0.1:9092", description="Kafka bootstrap servers")
    cases_topic: str = "rarematch.cases"
    matches_topic: str = "rarematch.matches"
    cases_dead_letter_topic: str = "rarematch.cases.DLT"
    matches_dead_letter_topic: str = "rarematch.matches.DLT"
    topic_partitions: int = Field(default=3, ge=1, description="For topics this service creates")
    topic_replication: int = Field(default=1, ge=1)
    log_level: str = "INFO"


class EligibilitySettings(KafkaSettings):
    eligibility_group: str = "rarematch-eligibility"
    rules_dir: Path = Path("rules")
    eligibility_metrics_port: int = Field(default=9101, description="0 disables the endpoint")


class NotifierSettings(KafkaSettings):
    notifier_group: str = "rarematch-notifier"
    rules_dir: Path = Path("rules")
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_starttls: bool = False
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_from: str = "rarematch@localhost"
    smtp_timeout_s: float = 10.0
    notifier_metrics_port: int = Field(default=9102, description="0 disables the endpoint")
