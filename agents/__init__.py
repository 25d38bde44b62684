"""The optional remediation agent: it reads an incident's evidence through read-only tools
and proposes one registered playbook with typed params (or escalation to a person). It
never executes anything: its proposal goes through the same human approval as any other.

Imports only `playbooks` (the catalogue and the params schemas) and `detectors`; the daemon
gives it its tools and the one thing it may write: its own proposal (`agents.graph`).
"""
