"""feedloop ingest: accepts feedback over REST and makes it durable on raw-feedback."""
