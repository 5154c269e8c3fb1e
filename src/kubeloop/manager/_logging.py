"""Structured logs: every record made during a reconcile carries the object key being reconciled.

``configure_logging`` installs a handler whose records get ``key`` (and ``controller`` when known)
from the running reconcile, in ``text`` (``... key=ns/name``) or ``json`` (one object per line).
"""

from __future__ import annotations

import json
import logging
import sys
from typing import Literal

from kubeloop.controller import current_request

__all__ = ["KeyFilter", "configure_logging"]

_STANDARD = set(vars(logging.makeLogRecord({})))


class KeyFilter(logging.Filter):
    """Adds ``key`` (``namespace/name``) of the reconcile in progress, if any, to each record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "key"):
            request = current_request.get()
            if request is not None:
                record.key = str(request)
        return True


class _TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extras = {
            k: v for k, v in vars(record).items() if k not in _STANDARD and k not in ("message", "asctime")
        }
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in sorted(extras.items()))
        return line


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "ts": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        doc.update({k: v for k, v in vars(record).items() if k not in _STANDARD and k != "message"})
        if record.exc_info:
            doc["error"] = self.formatException(record.exc_info)
        return json.dumps(doc, default=str)


def configure_logging(level: str | int = "INFO", fmt: Literal["text", "json"] = "text") -> None:
    """Send logs to stderr in ``fmt``, at ``level``, with reconcile keys on every line."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(KeyFilter())
    if fmt == "json":
        handler.setFormatter(_JsonFormatter())
    else:
        handler.setFormatter(_TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level if isinstance(level, int) else level.upper())
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
