"""The API's side of RabbitMQ it drives: the link that keeps a connection, the task and
webhook publishers, the change feed and the queue figures. The consumers are in
`producer_service.consumers`."""
