"""The daemon's side of the agent: its read-only tools over the store, the one write it may
make (its own proposal), and when it runs (`daemon.agent.service`)."""
