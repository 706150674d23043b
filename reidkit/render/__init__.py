"""reidkit.render."""
