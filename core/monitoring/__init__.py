"""The drift monitor: live inputs and scores against the champion's training data."""
