"""Users' own business metrics: `metric(y_true, y_pred, probabilities) -> float` functions named in
config as `common.usermetrics.<module>:<function>`. Kept here, inside the shared package, because
every function bundle (the monitor's included) and `modelctl` carry `common`, so the one module is
importable wherever the business metric is computed (docs/quality-gate.md)."""
