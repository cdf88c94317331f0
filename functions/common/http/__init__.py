"""JSON API requests: client errors, the request body, and /predict's rows."""
