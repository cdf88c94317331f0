"""Client examples referenced by the README (tested in tests/unit/test_api_client_examples.py)."""
