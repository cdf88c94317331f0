"""Releases of the inference function: publish a version, move the `live` alias's weights, gate
each step on alarms scoped to the new version, roll back, and record every change in AWS.

Domain code takes its collaborators (boto3 clients, clock, invoker, reporter, prompt) as arguments,
so the same code runs against AWS, moto in tests and the local cloud, and the retraining workflow
can drive it. Only `target.py` knows where names come from (flags, environment, the local cloud's
deployment file, CloudFormation); only `console.py` (Rich, Typer's prompt) and `factory.py` (which
builds the collaborators) are adapters for the CLI in `modelctl/release_cmds.py`.
"""
