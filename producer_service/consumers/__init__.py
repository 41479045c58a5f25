"""The broker calling in: the events consumer and the webhook tries' consumer, each settling
through `shared.settle`."""
