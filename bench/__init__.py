"""Benchmarks that print figures and record them in bench/results.json; never assertions on time.

Run everything with `make bench` (or `python -m bench.run [--quick] [--only NAME ...]`).
Each module measures one thing against its baselines side by side, in the same run, on the same
model; see docs/performance.md for the latest figures and how to read them.
"""
