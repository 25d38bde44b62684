"""Delta Lake and Iceberg tables as remediation sees them: files of a version, commits that
remove or re-add exactly some of them, and a return to an earlier version (`base`)."""
