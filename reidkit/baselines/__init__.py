"""reidkit.baselines."""
