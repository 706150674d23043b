"""Files reidkit ships (body model, recipes, default configs); installed as `reidkit.assets`."""
