"""Shadow control: which candidate model live requests are mirrored to, and where its names come from."""
