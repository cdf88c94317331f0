"""Live model quality: predictions joined with ground-truth feedback, accuracy per time window, and
feature drift against the training baseline (docs/monitoring.md). The domain code lives in
`functions/common/observe` so the monitor function's bundle carries it too; this package is its
operator-side entry point (`monitoring.join` for the retraining workflow, `modelctl report accuracy`)."""
