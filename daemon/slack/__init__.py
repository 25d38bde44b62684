"""Slack: incident messages with Approve / Reject buttons, their thread replies, the app."""
