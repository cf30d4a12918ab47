"""Alert webhooks outside local mode: https to a public host only (no pointing notify inward)."""

import pytest
from feedloop.common.errors import Invalid
from feedloop.notify.alerts.api import refuse_internal_webhook


@pytest.mark.parametrize(
    "target",
    [
        "http://hooks.example.com/x",
        "https://127.0.0.1/x",
        "https://[::1]/x",
        "https://10.0.0.7/x",
        "https://169.254.169.254/latest/meta-data",
        "https://192.168.1.2:8443/x",
        "https://localhost/x",
        "https://prioritize.feedloop.svc/v1/issues",
        "https://metadata.google.internal/x",
    ],
)
def test_internal_or_plain_http_webhooks_are_refused(target: str) -> None:
    with pytest.raises(Invalid) as refused:
        refuse_internal_webhook(target)
    assert refused.value.extensions["field"] == "target"


@pytest.mark.parametrize(
    "target", ["https://hooks.slack.com/services/T0/B0/x", "https://93.184.216.34/hook"]
)
def test_public_https_webhooks_pass(target: str) -> None:
    refuse_internal_webhook(target)
