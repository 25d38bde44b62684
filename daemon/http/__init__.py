"""Warden's HTTP server (FastAPI): Slack's request URL, the approval API, health, metrics."""
