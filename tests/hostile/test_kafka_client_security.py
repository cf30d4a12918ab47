"""Services take their Kafka security from settings and hand it to every aiokafka client."""

import ssl

import pytest
from feedloop.common.kafka import client_options
from feedloop.common.settings import ServiceSettings


def test_sasl_over_tls_settings_reach_the_client_with_a_verifying_context() -> None:
    settings = ServiceSettings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="feedloop-ingest",
        kafka_sasl_password="secret",
    )
    options = client_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert options["sasl_plain_username"] == "feedloop-ingest"
    assert options["sasl_plain_password"] == "secret"
    context: ssl.SSLContext = options["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname


def test_the_local_broker_stays_plaintext_without_a_context() -> None:
    options = client_options(ServiceSettings())
    assert options["security_protocol"] == "PLAINTEXT"
    assert "ssl_context" not in options and "sasl_mechanism" not in options


def test_prod_refuses_sasl_passwords_over_plaintext() -> None:
    with pytest.raises(ValueError, match="plaintext"):
        ServiceSettings(
            environment="prod",
            kafka_security_protocol="SASL_PLAINTEXT",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_password="secret",
        )
