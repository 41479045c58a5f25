"""The HTTP API: accepts uploads, publishes resize tasks, serves status and outputs."""
