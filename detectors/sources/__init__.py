"""Data sources: open a dataset as an Ibis table and compute window aggregates on it.

Modules: `errors` (SourceError, light), `discovery` (which files a path names, light),
`base` (DatasetSource), `files` (Parquet/CSV via DuckDB), `sql` (PostgreSQL/DuckDB tables).
The package imports nothing itself, so the CLI starts without loading an engine.
"""
