"""Eligibility adapters: watching the rules directory."""
