"""What the CLI shows: terminal output (Rich) and HTML."""
