"""The release controller: the release loop as Step Functions task steps (steps.py), their Lambda
handler (handler.py), the execution's input (execution.py) and the client that starts, follows and
stops executions (client.py). The state machine that orders the steps is built by
infra/constructs/release_controller.py; docs/releases.md describes the whole."""
