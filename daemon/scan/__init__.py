"""Scanning: open datasets, compute windows, evaluate monitors and record what they find."""

from __future__ import annotations

from daemon.scan.runner import ScanReport, run_scan, sync_monitors

__all__ = ["ScanReport", "run_scan", "sync_monitors"]
