"""reidkit.train."""
