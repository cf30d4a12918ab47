"""Logs carrying the correlation id of the request or record being handled.

JSON lines where a machine reads them (Kubernetes, tests, files, pipes); colored, readable lines
when stdout is a terminal. The id comes from the HTTP request (web.py) or the consumed record
(consumer.py), both through `correlation_id_var`.
"""

import contextlib
import logging
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

correlation_id_var: ContextVar[str | None] = ContextVar("correlation_id", default=None)

_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation id and extras."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        correlation_id = correlation_id_var.get()
        if correlation_id:
            entry["correlation_id"] = correlation_id
        for key, value in record.__dict__.items():
            if key not in _RESERVED and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(entry, default=str).decode()


@contextlib.contextmanager
def correlation_scope(correlation_id: str | None) -> Iterator[None]:
    """Sets the correlation id for the block (logs, produced records), then restores it."""
    token = correlation_id_var.set(correlation_id)
    try:
        yield
    finally:
        correlation_id_var.reset(token)


_COLORS = {
    "DEBUG": "\033[2m",
    "INFO": "\033[32m",
    "WARNING": "\033[33m",
    "ERROR": "\033[31m",
    "CRITICAL": "\033[1;31m",
}
_DIM, _RESET = "\033[2m", "\033[0m"


class TextFormatter(logging.Formatter):
    """Readable single-line logs for a developer's terminal: time, level, logger, message,
    then the correlation id and the extras as key=value; levels colored when `color`."""

    def __init__(self, *, color: bool = False) -> None:
        super().__init__()
        self.color = color

    def format(self, record: logging.LogRecord) -> str:
        when = datetime.fromtimestamp(record.created).strftime("%H:%M:%S.%f")[:-3]
        level = f"{record.levelname:<7}"
        fields = {"cid": correlation_id_var.get()} | {
            k: v for k, v in record.__dict__.items() if k not in _RESERVED and not k.startswith("_")
        }
        tail = " ".join(f"{k}={v}" for k, v in fields.items() if v is not None)
        if self.color:
            level = f"{_COLORS.get(record.levelname, '')}{level}{_RESET}"
            tail = f"{_DIM}{tail}{_RESET}" if tail else tail
        line = f"{when} {level} {record.name}: {record.getMessage()}"
        line = f"{line}  {tail}" if tail else line
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


def wants_json(stream: TextIO | None = None) -> bool:
    """JSON unless the stream (stdout by default) is a terminal a person reads."""
    stream = stream if stream is not None else sys.stdout
    isatty = getattr(stream, "isatty", None)
    return not (callable(isatty) and isatty())


def configure_logging(*, service: str, level: str = "INFO", json: bool | None = None) -> None:
    """Routes every logger (uvicorn's and aiokafka's included) to one stderr handler.

    `json=None` decides by the terminal: colored text when stdout is one, JSON lines otherwise
    (Kubernetes, tests, pipes). True or False forces either.
    """
    handler = logging.StreamHandler(sys.stderr)
    as_json = wants_json() if json is None else json
    handler.setFormatter(
        JsonFormatter(service) if as_json else TextFormatter(color=wants_json(sys.stderr) is False)
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel("WARNING")
    logging.getLogger("aiokafka").setLevel("WARNING" if level != "DEBUG" else "INFO")
