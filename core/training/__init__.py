"""Training: ingest and the data version, training and evaluation jobs, the challenger's verdict."""
