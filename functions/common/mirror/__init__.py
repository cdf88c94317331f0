"""The request mirror: the inference function offers served requests to the shadow scorer and the
prediction log (config, message, record, request_mirror)."""
