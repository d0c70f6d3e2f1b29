"""Command-line pieces of ``runworker``: the task to run, its parameters, the lock.

Task parameters come as ``--param-name value`` (or ``--param-name=value``) for
the root task and ``--TaskFamily-param-name value`` for other tasks' parameters,
as on Luigi's command line. Every problem raises :class:`UsageError` with one
line saying what was wrong and how it should be written.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from workers.errors import ParameterError, TaskClassError
from workers.parameters.scalar import BoolParameter
from workers.registry import get_task_class, task_names
from workers.task import Task


class UsageError(Exception):
    """A bad command line; the message is one line."""


def import_modules(names: list[str]) -> None:
    for name in names:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name and name.startswith(exc.name):
                raise UsageError(
                    f"cannot import module {name!r}: no module named {exc.name!r}"
                ) from None
            raise UsageError(f"cannot import module {name!r}: {exc}") from None
        except Exception as exc:
            raise UsageError(
                f"importing module {name!r} failed: {type(exc).__name__}: {exc}"
            ) from None


def task_class(name: str) -> type[Task]:
    """The class for ``name`` (a family, or ``module.Family``)."""
    try:
        return get_task_class(name)
    except TaskClassError as exc:
        module, _, family = name.rpartition(".")
        if module:
            try:
                importlib.import_module(module)
                return get_task_class(family)
            except (ImportError, TaskClassError):
                pass
        raise UsageError(str(exc)) from None


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


@dataclass
class TaskArguments:
    #: root task keyword arguments (parsed values)
    kwargs: dict[str, Any] = field(default_factory=dict)
    #: family -> {param: text} for other tasks' parameters (--Family-param value)
    overrides: dict[str, dict[str, str]] = field(default_factory=dict)


def _tokens(args: list[str]) -> list[tuple[str, str | None]]:
    """``[(option, value or None)]`` from ``--name value`` / ``--name=value`` / ``--flag``."""
    pairs: list[tuple[str, str | None]] = []
    index = 0
    while index < len(args):
        token = args[index]
        if not token.startswith("--") or token == "--":
            raise UsageError(f"unexpected argument {token!r}: task parameters are --name value")
        if "=" in token:
            name, value = token[2:].split("=", 1)
            pairs.append((name, value))
            index += 1
        elif index + 1 < len(args) and not args[index + 1].startswith("--"):
            pairs.append((token[2:], args[index + 1]))
            index += 2
        else:
            pairs.append((token[2:], None))
            index += 1
    return pairs


def _parse_value(family: str, name: str, flag: str, param: Any, text: str | None) -> Any:
    if text is None:
        if isinstance(param, BoolParameter):
            return True
        raise UsageError(f"{family}: {flag} needs a value ({param.expects})")
    try:
        return param.parse(text)
    except Exception:
        raise UsageError(f"{family}: {flag} expects {param.expects}, got {text!r}") from None


def _other_family(option: str) -> tuple[type[Task], str] | None:
    """``Family-param-name`` -> (class, 'param_name') when Family is a registered task."""
    for family in sorted(task_names(), key=len, reverse=True):
        prefix = family + "-"
        if option.startswith(prefix):
            return get_task_class(family), option[len(prefix) :].replace("-", "_")
    return None


def parse_task_arguments(cls: type[Task], args: list[str]) -> TaskArguments:
    family = cls.get_task_family()
    params = dict(cls.get_params())
    parsed = TaskArguments()
    for option, text in _tokens(args):
        name = option.replace("-", "_")
        if name in params:
            parsed.kwargs[name] = _parse_value(family, name, "--" + option, params[name], text)
            continue
        other = _other_family(option)
        if other is not None:
            other_cls, other_name = other
            other_params = dict(other_cls.get_params())
            other_family = other_cls.get_task_family()
            if other_name not in other_params:
                known = ", ".join(_flag(n) for n in other_params) or "none"
                raise UsageError(
                    f"{other_family} has no parameter {other_name!r} (its parameters: {known})"
                )
            value = _parse_value(
                other_family, other_name, "--" + option, other_params[other_name], text
            )
            serialized = other_params[other_name].serialize(value)
            parsed.overrides.setdefault(other_family, {})[other_name] = serialized
            continue
        known = ", ".join(_flag(n) for n in params) or "none"
        raise UsageError(f"unknown option --{option} for task {family} (its parameters: {known})")
    return parsed


def apply_overrides(overrides: dict[str, dict[str, str]]) -> None:
    """Make --Family-param values the configured value of those parameters."""
    if not overrides:
        return
    from django.conf import settings

    config = {
        k: dict(v) for k, v in (getattr(settings, "PIPELINES_TASK_CONFIG", None) or {}).items()
    }
    for family, values in overrides.items():
        config.setdefault(family, {}).update(values)
    settings.PIPELINES_TASK_CONFIG = config


def build_root(cls: type[Task], arguments: TaskArguments) -> Task:
    family = cls.get_task_family()
    for name, param in cls.get_params():
        if name in arguments.kwargs or param.has_default:
            continue
        if param.configured_value(family, name) is None:
            raise UsageError(
                f"{family}: missing required parameter {_flag(name)} ({param.expects})"
            )
    try:
        return cls(**arguments.kwargs)
    except ParameterError as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    except Exception as exc:
        raise UsageError(f"{family}(...) raised {type(exc).__name__}: {exc}") from None


# --------------------------------------------------------------------------- the lock


class CommandLock:
    """The same command line cannot run twice at once on a host (as Luigi's lock).

    An exclusive ``flock`` on a file named by a hash of the command line, in the
    temp directory; the kernel drops it when the process ends, however it ends.
    """

    def __init__(self, argv: list[str], directory: str | None = None) -> None:
        digest = hashlib.sha1("\0".join(argv).encode()).hexdigest()[:16]
        base = Path(directory or os.path.join(tempfile.gettempdir(), "runworker-locks"))
        self.path = base / f"{digest}.lock"
        self._file: TextIO | None = None

    def acquire(self) -> bool:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            handle.close()
            return False
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        self._file = handle
        return True

    def holder(self) -> str:
        try:
            return self.path.read_text().strip() or "?"
        except OSError:
            return "?"

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
