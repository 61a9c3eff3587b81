"""The detection contract: rules as data, groups with caps, one scorer, the learned message model."""
