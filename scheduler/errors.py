"""The scheduler's errors; scheduler.views maps them to HTTP answers."""

from __future__ import annotations

from typing import Any


def error_body(error: str, detail: str, **extra: Any) -> dict:
    """Every JSON error of the project: ``{"error": code, "detail": message, ...}``."""
    return {"error": error, "detail": detail, **extra}


class SchedulerError(Exception):
    """Base class: something the caller asked for cannot be done."""

    status_code = 400


class InvalidArgument(SchedulerError):
    """An argument is missing, of the wrong type or out of range."""

    def __init__(self, argument: str, message: str):
        super().__init__(f"argument {argument!r}: {message}")
        self.argument = argument


class UnknownMethod(SchedulerError):
    status_code = 404


class SchedulerUnavailable(SchedulerError):
    """The database is unreachable or too busy; the caller should retry."""

    status_code = 503


class NotFound(SchedulerError):
    """The task, worker or resource named does not exist."""

    status_code = 404


class NotApplicable(SchedulerError):
    """An operator action that does not apply to the current state (e.g. retrying a
    task that has not failed)."""

    status_code = 409
