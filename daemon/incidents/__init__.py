"""Incidents: observing findings (open, update, auto-resolve), their lifecycle, silences,
and routing to a playbook."""
