"""Console output of a worker: log formats and the live progress line.

The progress line (``done/total, running, failed``) is drawn on stderr only when
it is a terminal; log records clear it before they are written, so the two
never mix.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from typing import TextIO

_CLEAR = "\r\x1b[K"
_lock = threading.Lock()
_current: Progress | None = None


class Progress:
    def __init__(self, enabled: bool, stream: TextIO | None = None, every: float = 0.25) -> None:
        self.enabled = enabled
        self.stream = stream or sys.stderr
        self.every = every
        self.total = 0
        self.done = 0
        self.running = 0
        self.failed = 0
        self._drawn = ""
        self._last = 0.0
        global _current
        if enabled:
            _current = self

    def update(
        self, done: int | None = None, running: int | None = None, failed: int | None = None
    ) -> None:
        if done is not None:
            self.done = done
        if running is not None:
            self.running = running
        if failed is not None:
            self.failed = failed
        if self.enabled and time.monotonic() - self._last >= self.every:
            self.draw()

    def line(self) -> str:
        return (
            f"[runworker] {self.done}/{self.total} done, "
            f"{self.running} running, {self.failed} failed"
        )

    def draw(self) -> None:
        with _lock:
            self._drawn = self.line()
            self._last = time.monotonic()
            self.stream.write(_CLEAR + self._drawn)
            self.stream.flush()

    def clear(self) -> None:
        if self._drawn:
            self.stream.write(_CLEAR)
            self._drawn = ""

    def finish(self) -> None:
        global _current
        if self.enabled:
            with _lock:
                self.clear()
                self.stream.flush()
            _current = None


class ProgressAwareHandler(logging.StreamHandler):
    """A stream handler that clears the progress line before writing a record."""

    def emit(self, record: logging.LogRecord) -> None:
        progress = _current
        if progress is None:
            super().emit(record)
            return
        with _lock:
            progress.clear()
            super().emit(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, pid, message (and the exception)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s[%(process)d] %(message)s"


def configure_logging(level: str = "INFO", fmt: str = "text") -> None:
    """Send log records to stderr in ``fmt`` (text or json) at ``level``."""
    handler = ProgressAwareHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # The scheduler service logs every transition at INFO; in a worker that is noise.
    quiet = "DEBUG" if level.upper() == "DEBUG" else "WARNING"
    for name, wanted in (("workers", level.upper()), ("scheduler", quiet)):
        logger = logging.getLogger(name)
        logger.setLevel(wanted)
        logger.propagate = True
        for old in list(logger.handlers):
            logger.removeHandler(old)
