"""Lineage: each scan as an OpenLineage run event (`scan_events`), sent through an outbox
(`delivery`)."""
