"""Reliability tooling: the load test (`make loadtest`) and the accounting of mirrored requests."""
