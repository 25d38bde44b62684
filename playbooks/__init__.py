"""Remediation playbooks: registered units with typed params, a pure plan, idempotent apply.

Importing the package registers every playbook (see `registry.py`).
"""

from playbooks import (
    quarantine,  # noqa: F401 - registers the playbook
    relabel,  # noqa: F401 - registers the playbook
    restore_version,  # noqa: F401 - registers the playbook
    synthetic,  # noqa: F401 - registers the playbook
)
