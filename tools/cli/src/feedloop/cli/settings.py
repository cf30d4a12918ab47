"""Connection settings of the CLI, read from FEEDLOOP_* variables and overridden by options."""

from feedloop.common.settings import ServiceSettings
from pydantic_settings import SettingsConfigDict


class CliSettings(ServiceSettings):
    """Kafka settings of the CLI (FEEDLOOP_KAFKA_BOOTSTRAP_SERVERS, FEEDLOOP_KAFKA_SASL_*, ...)."""

    model_config = SettingsConfigDict(env_prefix="FEEDLOOP_")

    service_name: str = "feedloop-cli"
