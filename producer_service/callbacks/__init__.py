"""Outgoing webhook HTTP: the SSRF guard (`targets`), signing (`signing`), one POST
(`sender`). When a webhook is due and what a try does is `producer_service.webhooks`."""
