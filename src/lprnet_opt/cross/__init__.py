"""Building and checking bundles for a target of another architecture (config `target`)."""
