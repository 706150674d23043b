"""Synthetic people for `reidkit synth`: their looks, the renderer, and the plan of every image."""
