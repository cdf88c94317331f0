"""`make demo`: a scripted, unattended tour of the whole system on the local cloud."""
