"""The API's side of RabbitMQ: the link that keeps a connection, the task publisher and
the event consumers."""
