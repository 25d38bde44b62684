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
@PHOTOS_DATASET@
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
@PHOTOS_MONITOR@"""

#: The image dataset and its monitor, when the `assets` extra is installed.
PHOTOS_DATASET = """\
  photos:
    format: files                # binary files: one folder of pictures per day
    path: data/photos/
    time_from: path              # a picture's time is its date=YYYY-MM-DD/ folder
"""
PHOTOS_MONITOR = """
  - name: photos-integrity
    kind: assets
    dataset: photos
    window: 1d
    schedule: {cron: "5 0 * * *"}
    workers: 1
"""


def demo_config(with_photos: bool) -> str:
    """The demo's config, with or without the image dataset."""
    return DEMO_CONFIG.replace("@PHOTOS_DATASET@", PHOTOS_DATASET if with_photos else "").replace(
        "@PHOTOS_MONITOR@", PHOTOS_MONITOR if with_photos else ""
    )
