"""The release domain: publish a version, move the `live` alias's weights, gate each step on alarms
scoped to the new version, roll back, record every change in AWS, and start or stop a shadow.

Domain code takes its collaborators (boto3 clients, clock, invoker, reporter, prompt) as arguments,
so the same code runs against AWS, moto in tests and the local cloud, and both the CLI (modelctl)
and the retraining workflow (retrain/) drive it. Only `target.py` knows where names come from
(flags, environment, the local cloud's deployment file, CloudFormation). Every error derives from
`release.errors.ReleaseError`. Nothing here imports the CLI or a terminal library.
"""
