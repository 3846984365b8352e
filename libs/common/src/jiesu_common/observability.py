"""Prometheus metrics shared by every service (one registry per process)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

HTTP_REQUESTS = Histogram(
    "jiesu_http_request_seconds",
    "HTTP request latency",
    ["method", "route", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
OUTBOX_PUBLISHED = Counter("jiesu_outbox_published_total", "Outbox rows published")
EVENTS_CONSUMED = Counter(
    "jiesu_events_consumed_total", "Events handled by consumers", ["group", "type", "outcome"]
)
DLQ_SENT = Counter("jiesu_dlq_sent_total", "Messages parked in a dead-letter topic", ["topic"])
