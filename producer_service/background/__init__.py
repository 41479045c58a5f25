"""Work the API does on its own, off any request: the outbox relay."""
