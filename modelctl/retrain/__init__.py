"""`modelctl retrain` (start the retraining workflow and follow it) and `modelctl models` (the registry)."""
