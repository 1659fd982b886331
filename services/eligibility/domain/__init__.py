"""The eligibility core: pure functions of (case, rules); no Kafka, no files, no clock."""
