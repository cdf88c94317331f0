"""The retraining workflow's steps as plain functions: prepare, train, evaluate, gate, register, release.

Each step takes its collaborators (S3 and Lambda clients, the feedback source, settings) as
arguments and returns a small JSON-able dict that the state machine keeps in its state; bulky
things (data sets, candidate artifacts) live in the model store under `retraining/runs/<run>/`.
The Lambda handler (retrain/handler.py) only wires them (docs/retraining.md).
"""
