"""Paging: PagerDuty Events API v2 events built from incidents and sent with the outbox's
retry rules (`events` builds them, `sender` sends one)."""
