"""The reviewing level's side: what a reviewing unit's staff see of the units below them."""
