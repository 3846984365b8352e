"""Messaging mechanics: outbox tables and relay, consumer runner with inbox and DLQ."""
