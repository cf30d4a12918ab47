"""Shared library of the feedloop services: contracts, Kafka runtime, settings, observability."""
