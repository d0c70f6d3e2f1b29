"""Checking a run request before anything is queued.

A request names a module (which must be on ``PIPELINES_ALLOWED_MODULES``), a task
family defined in it, the task's parameters and a number of worker processes.
The module is imported here (in the process that accepts the request), the
parameters are parsed by the task's own parameter types through the same code
as ``runworker``'s command line, and the root task is built, so a bad request
is refused with a message naming the problem and a good one carries the root
task's id and the exact ``runworker`` arguments that will run it.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from typing import Any

from workers import cli, conf
from workers.registry import task_classes
from workers.task import Task


class RunRequestError(Exception):
    """A request that cannot be run; ``code`` is short, the message names the problem."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class CheckedRun:
    module: str
    family: str
    params: dict[str, Any]
    workers: int
    root_task_id: str

    def runworker_args(self) -> list[str]:
        """``runworker`` arguments: ``--module M Family --param=value ... --workers N``."""
        return [
            "--module",
            self.module,
            self.family,
            *param_args(self.params),
            "--workers",
            str(self.workers),
        ]


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def param_args(params: dict[str, Any]) -> list[str]:
    """``{"date": "2026-11-21", "days": 3}`` -> ``["--date=2026-11-21", "--days=3"]``."""
    return [f"--{name}={_text(value)}" for name, value in params.items()]


def _family_in(module: str, family: str) -> type[Task]:
    """The task class of ``family`` defined in ``module`` (or its submodules): looked up
    there, not in the global registry, where another module may use the same name."""
    found = {
        cls.get_task_family(): cls
        for cls in task_classes()
        if cls.__module__ == module or cls.__module__.startswith(module + ".")
    }
    if family in found:
        return found[family]
    close = difflib.get_close_matches(family, list(found), n=5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    known = ", ".join(sorted(found)) or "none"
    raise RunRequestError(
        "unknown_family",
        f"module {module!r} defines no task family {family!r} (its families: {known}).{hint}",
    )


def check(module: Any, family: Any, params: Any = None, workers: Any = 1) -> CheckedRun:
    """Validate a request; raise :class:`RunRequestError` naming what is wrong."""
    if not isinstance(module, str) or not module.strip():
        raise RunRequestError("bad_request", "'module' is required: the module defining the task")
    if not isinstance(family, str) or not family.strip():
        raise RunRequestError("bad_request", "'family' is required: the task family to run")
    module, family = module.strip(), family.strip()
    params = {} if params is None else params
    if not isinstance(params, dict) or not all(isinstance(k, str) and k for k in params):
        raise RunRequestError("bad_request", "'params' must be an object of parameter values")
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise RunRequestError("bad_request", f"'workers' must be an integer, got {workers!r}")
    if not 1 <= workers <= conf.max_workers():
        raise RunRequestError(
            "bad_request", f"'workers' must be between 1 and {conf.max_workers()}, got {workers}"
        )
    if not conf.is_allowed(module):
        allowed = ", ".join(conf.allowed_modules()) or "none"
        raise RunRequestError(
            "module_not_allowed",
            f"module {module!r} is not in PIPELINES_ALLOWED_MODULES (allowed: {allowed})",
        )
    try:
        cli.import_modules([module])
    except cli.UsageError as exc:
        raise RunRequestError("unknown_module", str(exc)) from None
    cls = _family_in(module, family)
    try:
        arguments = cli.parse_task_arguments(cls, param_args(params))
        root = cli.build_root(cls, arguments)
    except cli.UsageError as exc:
        raise RunRequestError("bad_parameter", str(exc)) from None
    return CheckedRun(module, family, dict(params), workers, root.task_id)
