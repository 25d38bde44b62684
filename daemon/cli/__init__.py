"""The `warden` command line: one module per command group, all built on `daemon.cli.app`."""
