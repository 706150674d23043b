"""reidkit.cluster."""
