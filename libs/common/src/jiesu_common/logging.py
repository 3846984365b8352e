"""JSON logs carrying the complaint id, event id and correlation id of the work in hand."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

complaint_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "complaint_id", default=None
)
event_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("event_id", default=None)
correlation_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "correlation_id", default=None
)

_CONTEXT = {
    "complaint_id": complaint_id_var,
    "event_id": event_id_var,
    "correlation_id": correlation_id_var,
}
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line; context variables and `extra=` fields included."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for name, var in _CONTEXT.items():
            value = var.get()
            if value is not None:
                entry[name] = value
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


@dataclass
class _Seen:
    window_start: float
    count: int = 1
    suppressed: int = 0


class RepeatLimiter(logging.Filter):
    """Lets the same warning (logger, level, template) through ``burst`` times a window.

    A dependency that is down makes every client retry many times a second; one line per
    retry fills the disk and hides everything else. The first line after a window that
    suppressed some carries ``repeated``: how many were dropped.
    """

    def __init__(self, window_s: float = 60.0, burst: int = 2, max_keys: int = 2000) -> None:
        super().__init__()
        self._window_s = window_s
        self._burst = burst
        self._max_keys = max_keys
        self._seen: dict[tuple[str, int, str], _Seen] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        """True to emit the record (information lines always pass: they are the record)."""
        if record.levelno < logging.WARNING:
            return True
        key = (record.name, record.levelno, str(record.msg))
        now = time.monotonic()
        seen = self._seen.get(key)
        if seen is None or now - seen.window_start >= self._window_s:
            if len(self._seen) >= self._max_keys:
                self._forget_old(now)
            self._seen[key] = _Seen(now)
            if seen is not None and seen.suppressed:
                record.repeated = seen.suppressed
            return True
        seen.count += 1
        if seen.count <= self._burst:
            return True
        seen.suppressed += 1
        return False

    def _forget_old(self, now: float) -> None:
        self._seen = {k: v for k, v in self._seen.items() if now - v.window_start < self._window_s}
        if len(self._seen) >= self._max_keys:
            self._seen.clear()


def configure_logging(service: str, level: str = "INFO") -> None:
    """Route every logger through one JSON handler on stderr, repeats limited."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    handler.addFilter(RepeatLimiter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("aiokafka", "kafka", "sqlalchemy.engine", "uvicorn.access"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


@contextmanager
def log_context(
    *,
    complaint_id: str | None = None,
    event_id: str | None = None,
    correlation_id: str | None = None,
) -> Iterator[None]:
    """Bind ids to every log line written inside the block."""
    tokens = []
    for var, value in (
        (complaint_id_var, complaint_id),
        (event_id_var, event_id),
        (correlation_id_var, correlation_id),
    ):
        if value is not None:
            tokens.append((var, var.set(value)))
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)
