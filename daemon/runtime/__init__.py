"""What keeps `warden run` healthy as a long-running process: its registration among the
replicas, crash recovery, the SQLite single-daemon lock, graceful shutdown, missed-tick
incidents and structured logs."""
