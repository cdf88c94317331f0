"""The precompute workflow shared by the control and score functions and the CLI: the input grid,
the run and its DynamoDB table."""
