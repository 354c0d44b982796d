"""The pure core: the DbList model, the merge, the change model, the wire guard, errors, logging.

Knows nothing of triggers, stores, DTS calls or FC; everything else depends on it."""
