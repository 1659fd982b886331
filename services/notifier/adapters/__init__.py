"""Notifier adapters: SMTP delivery and the routing file on disk."""
