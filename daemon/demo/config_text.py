"""The config the demo writes next to its data (paths relative to the config file)."""

from __future__ import annotations

DEMO_CONFIG = """\
# Warden demo config, written by `warden demo`. Paths are relative to this file.
store:
  url: "sqlite:///warden.db"

datasets:
  loans:
    format: parquet
    path: data/loans/            # one hive partition per day: date=YYYY-MM-DD/
    time_column: timestamp
    entity_column: id
    roles: {label: repaid, prediction: y_pred_proba}

monitors:
  - name: loans-drift
    kind: drift
    dataset: loans
    reference: {start: "2025-01-01", end: "2025-01-28"}   # the clean month
    window: 1d                   # yesterday, for a scan at midnight
    schedule: {cron: "5 0 * * *"}
    severity: warning

  - name: loans-quality
    kind: quality
    dataset: loans
    reference: {start: "2025-01-01", end: "2025-01-28"}
    window: 1d
    schedule: {cron: "5 0 * * *"}
    severity: critical

  - name: loans-freshness
    kind: freshness
    dataset: loans
    max_lag: 26h                 # a daily partition may land up to two hours late
    expected_every: 1d
    lookback: 14d
    schedule: {every: 1h}
"""
