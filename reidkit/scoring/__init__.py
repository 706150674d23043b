"""reidkit.scoring."""
