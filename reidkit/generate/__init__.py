"""reidkit.generate."""
