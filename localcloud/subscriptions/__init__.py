"""CloudWatch Logs subscription filters, locally: what a function logs reaches the subscribed
function, as CloudWatch Logs delivers it on AWS.

`config` reads the subscriptions out of the provisioned templates, `pattern` evaluates filter
patterns, `awslogs` builds the event the destination receives, `delivery` batches, invokes, retries
and dead-letters, and `client` lets another process (a test driving `python -m localcloud up`) wait
until everything logged so far has been delivered.
"""
