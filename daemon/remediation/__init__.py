"""Remediation: proposals planned from routed incidents, approvals bound to the plan hash,
the executor that applies them in a child process and verifies, and quarantine records."""
