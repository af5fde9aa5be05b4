"""Non-learned reference classifiers, to show what the learned models add."""
