"""`warden demo`: a seeded dataset with injected faults, its config, and the story it tells."""
