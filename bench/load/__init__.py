"""The parts of `bench/scheduler_load.py`, one job each.

- `workload`: the seeded Parquet datasets, the monitors' kinds and the daemon's config;
- `store_counts`: the scratch PostgreSQL database, write counters, scan rows and store size;
- `daemon_process`: starting, sampling (/proc) and stopping the `warden run` replicas;
- `reports`: quantiles, `/metrics` histograms, the tick and log reports, the progress line.

Imported as `load.<module>`: the script runs as `python bench/scheduler_load.py`, which puts
`bench/` first on `sys.path`.
"""
