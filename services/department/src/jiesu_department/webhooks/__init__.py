"""Webhooks for units: subscriptions, the durable delivery queue and its delivery worker."""
