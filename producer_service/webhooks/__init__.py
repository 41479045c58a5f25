"""Completion webhooks: the SSRF guard (`targets`), signing (`signing`), one POST (`sender`),
and when a webhook is due and what a try does (`deliveries`). The broker side is
`producer_service.broker.webhooks`; the relay is in `producer_service.background.outbox`."""
