"""Task, WrapperTask, ExternalTask: the unit of work, shaped like Luigi's.

A task is defined by its class (the *family*) and its parameter values; two
tasks with the same family and significant public values have the same
``task_id`` (computed exactly as Luigi does) and, while the instance cache is
on, are the same object.
"""

from __future__ import annotations

import abc
import copy
import functools
import logging
import traceback
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, ClassVar, dataclass_transform

from workers import events, registry
from workers.parameters.base import Parameter
from workers.task_id import task_id_str
from workers.task_params import Params, class_params, parse_str_params, resolve, serialize_params
from workers.util import flatten, getpaths

logger = logging.getLogger(__name__)

SAME_AS_PYTHON_MODULE = "_same_as_python_module"
_NOT_USER_SPECIFIED = "__not_user_specified"
_default_namespaces: dict[str, str] = {}
_instance_cache: dict[Any, Task] | None = {}
# Each class's parameters, found once (class_params walks the whole MRO, and every
# instantiation asks). Setting or deleting an attribute of any Task class forgets
# them all: a Parameter added to a base class is a parameter of its subclasses too.
_params_cache: dict[type, Params] = {}


def namespace(namespace: str | None = None, scope: str = "") -> None:
    """Give Task classes defined later in modules under ``scope`` this namespace."""
    _default_namespaces[scope] = namespace or ""


def auto_namespace(scope: str = "") -> None:
    """Give Task classes defined later under ``scope`` their module name as namespace."""
    namespace(SAME_AS_PYTHON_MODULE, scope)


def _namespace_for_module(module: str) -> str:
    parts = module.split(".")
    for i in range(len(parts), 0, -1):
        found = _default_namespaces.get(".".join(parts[:i]))
        if found:
            return found
    return _default_namespaces.get("", "") if module else ""


def clear_instance_cache() -> None:
    """Forget cached task instances (and turn the cache back on if it was disabled)."""
    global _instance_cache
    _instance_cache = {}


def disable_instance_cache() -> None:
    """Build a new object on every instantiation."""
    global _instance_cache
    _instance_cache = None


class TaskMeta(abc.ABCMeta):
    """Registers Task classes by family and returns cached instances for equal parameters."""

    def __new__(mcs, name: str, bases: tuple[type, ...], namespace: dict[str, Any], **kw: Any):
        cls = super().__new__(mcs, name, bases, namespace, **kw)
        cls._namespace_at_class_time = _namespace_for_module(cls.__module__)
        if namespace.get("_visible_in_registry", True):
            registry.register(cls)  # type: ignore[arg-type]
        return cls

    def __setattr__(cls, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        _params_cache.clear()

    def __delattr__(cls, name: str) -> None:
        super().__delattr__(name)
        _params_cache.clear()

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        cache = _instance_cache
        if cache is None:
            return super().__call__(*args, **kwargs)
        values = cls.get_param_values(cls.get_params(), args, kwargs)  # type: ignore[attr-defined]
        key = (cls, tuple(values))
        try:
            hash(key)
        except TypeError:  # an unhashable value: no caching for this one
            return super().__call__(*args, **kwargs)
        if key not in cache:
            cache[key] = super().__call__(*args, **kwargs)
        return cache[key]

    @property
    def task_family(cls) -> str:
        return cls.get_task_family()  # type: ignore[attr-defined]


class BulkCompleteNotImplementedError(NotImplementedError):
    """Raised by the default ``bulk_complete``: check tasks one by one instead."""


@dataclass_transform(kw_only_default=True, field_specifiers=(Parameter,))
class Task(metaclass=TaskMeta):
    """A unit of work: override ``requires``, ``output`` and ``run``."""

    #: Higher runs first when several tasks are ready.
    priority: ClassVar[int] = 0
    #: Scheduler resources this task holds while running, e.g. {"db": 1}.
    resources: ClassVar[dict[str, int]] = {}
    disabled: ClassVar[bool] = False
    #: Seconds a run may take before the worker kills it (None: the worker's default).
    worker_timeout: ClassVar[int | None] = None
    #: Most tasks combined into one batch run (for tasks with batch_method parameters).
    max_batch_size: ClassVar[float] = float("inf")
    #: Retry policy sent to the scheduler; None means "use the scheduler's setting".
    retry_count: ClassVar[int | None] = None
    disable_hard_timeout: ClassVar[int | None] = None
    disable_window: ClassVar[int | None] = None
    owner_email: ClassVar[str | list[str] | None] = None
    #: Whether the task reads messages the scheduler relays to it while running.
    accepts_messages: ClassVar[bool] = False
    use_cmdline_section: ClassVar[bool] = True
    task_namespace: ClassVar[str] = _NOT_USER_SPECIFIED
    _namespace_at_class_time: ClassVar[str] = ""

    task_id: str
    param_kwargs: dict[str, Any]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        values = self.get_param_values(self.get_params(), args, kwargs)
        for name, value in values:
            setattr(self, name, value)
        self.param_kwargs = dict(values)
        self.task_id = task_id_str(
            self.get_task_family(), self.to_str_params(only_significant=True, only_public=True)
        )
        self._hash = hash(self.task_id)

    # -- identity ------------------------------------------------------------------------
    @classmethod
    def get_task_namespace(cls) -> str:
        if cls.task_namespace != _NOT_USER_SPECIFIED:
            return cls.task_namespace
        if cls._namespace_at_class_time == SAME_AS_PYTHON_MODULE:
            return cls.__module__
        return cls._namespace_at_class_time

    @classmethod
    def get_task_family(cls) -> str:
        space = cls.get_task_namespace()
        return f"{space}.{cls.__name__}" if space else cls.__name__

    @property
    def task_family(self) -> str:
        return self.get_task_family()

    @property
    def task_module(self) -> str:
        return type(self).__module__

    def initialized(self) -> bool:
        return hasattr(self, "task_id")

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.task_id == other.task_id  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        texts = serialize_params(
            self.get_task_family(), self.get_params(), self.param_kwargs, only_significant=True
        )
        return f"{self.get_task_family()}({', '.join(f'{k}={v}' for k, v in texts.items())})"

    # -- parameters ----------------------------------------------------------------------
    @classmethod
    def get_params(cls) -> Params:
        params = _params_cache.get(cls)
        if params is None:
            params = _params_cache[cls] = class_params(cls)
        return list(params)

    @classmethod
    def get_param_names(cls, include_significant: bool = False) -> list[str]:
        """Names of significant parameters (all parameters with include_significant=True)."""
        return [name for name, p in cls.get_params() if include_significant or p.significant]

    @classmethod
    def batch_param_names(cls) -> list[str]:
        return [name for name, param in cls.get_params() if param.is_batchable()]

    @property
    def batchable(self) -> bool:
        return bool(self.batch_param_names())

    @classmethod
    def get_param_values(
        cls, params: Params, args: Any, kwargs: Mapping[str, Any]
    ) -> list[tuple[str, Any]]:
        return resolve(cls.get_task_family(), params, args, kwargs)

    @classmethod
    def from_str_params(cls, params_str: Mapping[str, Any]) -> Task:
        """The task whose parameters are written as ``params_str`` (as the scheduler sends)."""
        return cls(**parse_str_params(cls.get_task_family(), cls.get_params(), params_str))

    def to_str_params(
        self, only_significant: bool = False, only_public: bool = False
    ) -> dict[str, str]:
        """Text of every non-private parameter (or only significant / public ones)."""
        return serialize_params(
            self.get_task_family(),
            self.get_params(),
            self.param_kwargs,
            only_significant=only_significant,
            only_public=only_public,
        )

    def param_visibilities(self) -> dict[str, int]:
        """Visibility of every non-private parameter, as sent in ``add_task``."""
        return {
            name: int(param.visibility)
            for name, param in self.get_params()
            if name in self.param_kwargs and param.visibility < 2
        }

    _get_param_visibilities = param_visibilities  # Luigi's name

    def clone(self, cls: type[Task] | None = None, **kwargs: Any) -> Task:
        """A task of ``cls`` (default: this class) with these parameters, some replaced."""
        target = cls or type(self)
        values = {
            name: kwargs[name] if name in kwargs else getattr(self, name)
            for name, _ in target.get_params()
            if name in kwargs or hasattr(self, name)
        }
        return target(**values)

    # -- what the task does --------------------------------------------------------------
    def requires(self) -> Any:
        """Tasks (or lists/dicts of tasks) that must be complete before this one runs."""
        return []

    def output(self) -> Any:
        """Targets (or lists/dicts of targets) this task produces."""
        return []

    def run(self) -> Any:
        """Do the work. May be a generator yielding further tasks (dynamic dependencies)."""

    def complete(self) -> bool:
        """True when every output exists; a task without outputs is never complete."""
        outputs = flatten(self.output())
        if not outputs:
            logger.warning("%r has no outputs and no complete() method: never complete", self)
            return False
        return all(output.exists() for output in outputs)

    @classmethod
    def bulk_complete(cls, parameter_tuples: Any) -> Any:
        raise BulkCompleteNotImplementedError()

    def deps(self) -> list[Task]:
        return flatten(self.requires())

    def input(self) -> Any:
        """The outputs of ``requires()``, in the same structure."""
        return getpaths(self.requires())

    def process_resources(self) -> dict[str, int]:
        return self.resources

    def retry_policy_dict(self) -> dict[str, int | None]:
        """The ``retry_policy_dict`` Luigi sends with ``add_task``."""
        return {
            "retry_count": self.retry_count,
            "disable_hard_timeout": self.disable_hard_timeout,
            "disable_window": self.disable_window,
        }

    def owner_list(self) -> list[str]:
        owners = self.owner_email
        if owners is None:
            return []
        return owners.split(",") if isinstance(owners, str) else list(owners)

    _owner_list = owner_list  # Luigi's name

    def on_failure(self, exception: BaseException) -> str:
        """The error text reported to the scheduler when run() raised ``exception``."""
        return "Runtime error:\n" + "".join(traceback.format_exception(exception))

    def on_success(self) -> Any:
        return None

    # -- hooks the runtime replaces on the instance while the task runs ------------------
    def set_tracking_url(self, url: str) -> None:
        """Tell the scheduler where to follow this run (no-op outside a worker)."""

    def set_status_message(self, message: str) -> None:
        """Show ``message`` for this task in the dashboard (no-op outside a worker)."""

    def set_progress_percentage(self, percentage: float) -> None:
        """Show progress for this task in the dashboard (no-op outside a worker)."""

    _RUNTIME_HOOKS: ClassVar[tuple[str, ...]] = (
        "set_tracking_url",
        "set_status_message",
        "set_progress_percentage",
    )

    @contextmanager
    def no_unpicklable_properties(self) -> Iterator[None]:
        """Temporarily drop runtime hooks set on the instance (so it can be pickled)."""
        hooks = [name for name in self._RUNTIME_HOOKS if name in self.__dict__]
        saved = {name: self.__dict__.pop(name) for name in hooks}
        try:
            yield
        finally:
            self.__dict__.update(saved)

    # -- Luigi-style event callbacks -----------------------------------------------------
    @classmethod
    def event_handler(cls, event: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator: call the function on ``event`` for tasks of this class."""

        def register(callback: Callable[..., Any]) -> Callable[..., Any]:
            events.add_handler(cls, event, callback)
            return callback

        return register

    @classmethod
    def remove_event_handler(cls, event: str, callback: Callable[..., Any]) -> None:
        events.remove_handler(cls, event, callback)

    def trigger_event(self, event: str, *args: Any) -> None:
        events.trigger(self, event, *args)


class WrapperTask(Task):
    """A task that only groups others: complete when all its requirements are."""

    def complete(self) -> bool:
        return all(requirement.complete() for requirement in flatten(self.requires()))


class ExternalTask(Task):
    """Data produced outside this system: never run, complete when its output exists."""

    run = None  # type: ignore[assignment]


class Config(Task):
    """A parameter bundle read from its ``[ClassName]`` configuration section."""


def is_external(task: Task) -> bool:
    """True for tasks the worker must not run (``run`` is None)."""
    return task.run is None


def externalize(task_or_class: Any) -> Any:
    """A copy of a task (or task class) whose ``run`` is None, so it is never run here."""
    if isinstance(task_or_class, type):
        original = task_or_class
        body = {"run": None, "_visible_in_registry": False, "__module__": original.__module__}
        copied = type(original)(original.__name__, (original,), body)
        assigned = (*functools.WRAPPER_ASSIGNMENTS, "_namespace_at_class_time")
        functools.update_wrapper(copied, original, assigned=assigned, updated=())
        return copied
    copied_task = copy.copy(task_or_class)
    copied_task.run = None
    return copied_task
