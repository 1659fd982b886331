"""The notifier core: who gets told about a decision, and what the message says. No I/O."""
