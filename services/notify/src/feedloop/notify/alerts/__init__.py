"""KPI alerts to staff: subscriptions, and delivery of prioritize's spikes and weekly digests.

prioritize detects spikes and builds the weekly digest (feedloop.prioritize.kpis.alerts) and
emits each once on `alerts`; notify, the service that already sends e-mail and webhooks, keeps
who gets which alert (`alert_subscription`, managed through /v1/alerts with the admin scope),
fans each event out to the matching subscriptions once (`alert_delivery`, unique per
subscription and alert key) and sends them: e-mail through the SMTP pool of the customer
e-mail channel, or a Slack-compatible webhook (`{"text": ...}`), with timeouts, retries with
backoff, an hourly cap per subscription, and a `notification.failed` dead letter on
`notifications.dlq` when a delivery fails for good.

Personal data: a subscription holds a staff member's address or a webhook URL, nothing of
customers; alerts carry counts, themes and ids only. Deleting a subscription deletes it and
its deliveries; deliveries older than `alert_keep_days` are deleted.
"""
