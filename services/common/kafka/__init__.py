"""Kafka plumbing shared by both services: topics, the consume-handle-produce loop, the DLT."""
