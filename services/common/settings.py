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
    metrics_host: str = Field(
        default="127.0.0.1",
        description="Address of /metrics, /healthz and /readyz; 0.0.0.0 opens them to the network",
    )


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
    notifications_dead_letter_topic: str = "rarematch.notifications.DLT"
    notifier_database_url: SecretStr | None = Field(
        default=None, description="postgresql://… for several notifier instances; else SQLite"
    )
    notifier_store_path: Path = Field(
        default=Path("var/notifier.sqlite3"), description="SQLite dedup and digest store"
    )
    case_url_template: str | None = Field(
        default=None,
        description="Link in every alert, e.g. https://nav.example.org/cases/{case_id}",
    )
    delivery_workers: int = Field(default=8, ge=1, description="Deliveries in flight at once")
    per_channel_limit: int = Field(default=4, ge=1, description="In flight per channel")
    retry_attempts: int = Field(default=4, ge=1)
    retry_base_delay_s: float = Field(default=0.5, gt=0)
    retry_max_delay_s: float = Field(default=8.0, gt=0)
    claim_lease_s: float = Field(
        default=120.0, gt=0, description="How long an in-flight delivery blocks a duplicate"
    )
