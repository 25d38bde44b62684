"""The long-running process (`warden run`): the scheduler and its jobs, registration among the
replicas, crash recovery, the SQLite single-daemon lock, graceful shutdown, missed-tick
incidents and structured logs."""
