"""Every Prometheus metric of both services, in one place."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

__all__ = [
    "BATCHES_ABANDONED",
    "CASE_SUMMARIES",
    "DEAD_LETTERED",
    "DELIVERY_SECONDS",
    "EVALUATION_SECONDS",
    "KAFKA_CONNECTED",
    "KAFKA_DISCONNECTS",
    "MATCH_CHANGES",
    "MATCH_EVENTS",
    "NOTIFICATIONS",
    "RECORDS_CONSUMED",
    "REMATCH_CASES",
    "REMATCH_REMAINING",
    "RULES_ERRORS",
    "RULES_RELOADS",
    "RULES_VERSION",
    "STATE_BYTES",
    "STATE_CASES",
    "set_rules_version",
]

RECORDS_CONSUMED = Counter(
    "rarematch_records_consumed_total", "Kafka records consumed", ["service", "topic"]
)
DEAD_LETTERED = Counter(
    "rarematch_dead_lettered_total", "Records sent to a dead-letter topic", ["service", "reason"]
)
MATCH_EVENTS = Counter("rarematch_match_events_total", "Match events produced", ["outcome"])
MATCH_CHANGES = Counter(
    "rarematch_match_changes_total",
    "Match events by why they were published (new, outcome_changed, fails_criterion …)",
    ["reason"],
)
CASE_SUMMARIES = Counter(
    "rarematch_case_summaries_total",
    "Case summaries published (only when a case's decisions change)",
)
REMATCH_CASES = Counter("rarematch_rematch_cases_total", "Cases re-matched after a rule change")
REMATCH_REMAINING = Gauge(
    "rarematch_rematch_cases_remaining",
    "Cases of this instance's partitions still to re-match after the last rule change",
)
STATE_CASES = Gauge("rarematch_state_cases", "Active cases held in local state")
STATE_BYTES = Gauge(
    "rarematch_state_decision_bytes", "Bytes of decision state held for the active cases"
)
EVALUATION_SECONDS = Histogram(
    "rarematch_evaluation_seconds",
    "Time to evaluate one case against every program",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0),
)
RULES_RELOADS = Counter(
    "rarematch_rules_reloads_total",
    "Rule-set reloads by result (applied, unchanged, rejected, failed)",
    ["result"],
)
RULES_ERRORS = Gauge(
    "rarematch_rules_errors", "Errors in the last rejected rule edit; 0 when the files are valid"
)
RULES_VERSION = Info("rarematch_rules", "The rule set being served")
KAFKA_CONNECTED = Gauge(
    "rarematch_kafka_connected",
    "1 while the service's consumer holds a broker connection",
    ["service"],
)
BATCHES_ABANDONED = Counter(
    "rarematch_batches_abandoned_total",
    "Batches given up uncommitted on a transport error and polled again",
    ["service"],
)
KAFKA_DISCONNECTS = Counter(
    "rarematch_kafka_disconnects_total", "Times the broker connection was lost", ["service"]
)
NOTIFICATIONS = Counter(
    "rarematch_notifications_total",
    "Notification delivery attempts by channel and result "
    "(sent, failed, retried, dead_lettered, deduplicated, revocation_skipped)",
    ["channel", "result"],
)
DELIVERY_SECONDS = Histogram(
    "rarematch_delivery_seconds",
    "Time to deliver one notification, retries included",
    ["channel"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)


def set_rules_version(version: str) -> None:
    RULES_VERSION.info({"version": version})
