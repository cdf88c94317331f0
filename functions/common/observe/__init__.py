"""Reading what was served: the prediction log, feedback labels, their join, live quality, drift and
the classification metrics."""
