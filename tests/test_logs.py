"""Logs: JSON lines where a machine reads them, colored text on a terminal; correlation ids."""

import io
import logging
import sys

import orjson
import pytest
from feedloop.common.logs import (
    JsonFormatter,
    TextFormatter,
    configure_logging,
    correlation_id_var,
    correlation_scope,
    wants_json,
)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _record(msg: str = "stored %d", *args: object) -> logging.LogRecord:
    record = logging.LogRecord("feedloop.test", logging.WARNING, __file__, 1, msg, args, None)
    record.topic = "feedback.enriched"
    return record


def test_json_unless_stdout_is_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    assert wants_json(io.StringIO()) is True
    assert wants_json(Terminal()) is False
    monkeypatch.setattr(sys, "stdout", Terminal())
    configure_logging(service="test")
    assert isinstance(logging.getLogger().handlers[0].formatter, TextFormatter)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    configure_logging(service="test")
    assert isinstance(logging.getLogger().handlers[0].formatter, JsonFormatter)
    configure_logging(service="test", json=False)  # forced either way by LOG_JSON
    assert isinstance(logging.getLogger().handlers[0].formatter, TextFormatter)


def test_the_text_line_is_readable_colored_and_carries_the_correlation_id() -> None:
    with correlation_scope("req-7"):
        colored = TextFormatter(color=True).format(_record("stored %d", 3))
        plain = TextFormatter().format(_record("stored %d", 3))
    assert "\033[33m" in colored and "\033[" not in plain
    assert plain.endswith("WARNING feedloop.test: stored 3  cid=req-7 topic=feedback.enriched")
    assert correlation_id_var.get() is None, "the scope is restored"


def test_the_json_line_carries_the_correlation_id_of_the_scope() -> None:
    with correlation_scope("req-8"):
        line = orjson.loads(JsonFormatter("svc").format(_record()))
    assert (line["correlation_id"], line["service"], line["topic"]) == (
        "req-8",
        "svc",
        "feedback.enriched",
    )
