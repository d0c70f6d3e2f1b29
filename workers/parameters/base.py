"""The Parameter base class: parse, serialize, normalize, and where defaults come from.

A parameter's value is looked up, in order, from the task's constructor
arguments, the Django setting ``PIPELINES_TASK_CONFIG[family][name]``, the
``[family]`` section of luigi.cfg / luigi.toml (``scheduler.luigi_config``), the
deprecated ``config_path``, and finally ``default``.

``serialize`` must produce exactly Luigi's text, since task ids are hashed from it.
"""

from __future__ import annotations

import enum
import itertools
import os
from collections.abc import Callable, Iterable
from typing import Any, ClassVar, TypedDict

from workers.errors import TaskDefinitionError


class ParameterVisibility(enum.IntEnum):
    """Who may see a parameter's value; the integers are Luigi's wire values."""

    PUBLIC = 0  # part of the task id, shown everywhere
    HIDDEN = 1  # sent to the scheduler but not part of the task id nor shown
    PRIVATE = 2  # never leaves the worker process

    @classmethod
    def has_value(cls, value: object) -> bool:
        return any(value == item.value for item in cls)

    def serialize(self) -> int:
        return self.value


class _NoValue:
    """Sentinel for "no value given" (``None`` is a legitimate value)."""

    _instance: ClassVar[_NoValue | None] = None

    def __new__(cls) -> _NoValue:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no value>"

    def __bool__(self) -> bool:
        return False


NO_VALUE: Any = _NoValue()


class ConfigPath(TypedDict):
    section: str
    name: str


_counter = itertools.count()


def _normalise_option(name: str) -> str:
    return name.strip().replace("-", "_").lower()


def django_task_config(family: str) -> dict[str, Any]:
    """The ``PIPELINES_TASK_CONFIG[family]`` mapping (option names normalised), or {}."""
    from django.conf import settings

    if not settings.configured and not os.environ.get("DJANGO_SETTINGS_MODULE"):
        return {}  # plain Python use, without a Django project
    config = getattr(settings, "PIPELINES_TASK_CONFIG", None) or {}
    values = config.get(family) or {}
    return {_normalise_option(key): value for key, value in values.items()}


def file_task_config(family: str) -> dict[str, Any]:
    """The ``[family]`` section of the Luigi configuration files, or {}."""
    from scheduler import luigi_config

    return luigi_config.section(family)


class Parameter:
    """A task parameter whose value is a string; the base of every parameter type.

    Subclasses override :meth:`parse` (text -> value), :meth:`serialize`
    (value -> text, Luigi-exact), :meth:`normalize` (any accepted value -> the
    canonical value) and ``expects`` (the format, for error messages).
    """

    expects: str = "a string"
    #: Convert ``str`` values given in code with :meth:`parse` before normalizing.
    #: Only set where Luigi could not accept a string at all, so ids never diverge.
    coerce_strings: bool = False

    def __init__(
        self,
        default: Any = NO_VALUE,
        *,
        significant: bool = True,
        description: str | None = None,
        config_path: ConfigPath | None = None,
        positional: bool = True,
        always_in_help: bool = False,
        batch_method: Callable[[Iterable[Any]], Any] | None = None,
        visibility: ParameterVisibility | int = ParameterVisibility.PUBLIC,
    ) -> None:
        if config_path is not None and not {"section", "name"} <= set(config_path):
            raise TaskDefinitionError(
                f"config_path must be a dict with 'section' and 'name' keys, got {config_path!r}"
            )
        self._default = default
        self.significant = significant
        self.description = description
        self.positional = positional
        self.always_in_help = always_in_help
        self.batch_method = batch_method
        self.visibility = (
            ParameterVisibility(visibility)
            if ParameterVisibility.has_value(visibility)
            else ParameterVisibility.PUBLIC
        )
        self.config_path = config_path
        self._attribute_name: str | None = None
        #: creation order, which is the order parameters are listed in (and positional order)
        self.counter = next(_counter)

    # -- descriptor: task instances store values in their __dict__ -------------------------
    def __set_name__(self, owner: type, name: str) -> None:
        self._attribute_name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        try:
            return instance.__dict__[self._attribute_name]
        except KeyError:
            raise AttributeError(self._attribute_name) from None

    def __set__(self, instance: Any, value: Any) -> None:
        instance.__dict__[self._attribute_name] = value

    # -- the three conversions -----------------------------------------------------------
    def parse(self, x: str) -> Any:
        """The value written as text ``x`` (command line, config file, scheduler)."""
        return x

    def serialize(self, x: Any) -> str:
        """The text of value ``x``; exactly Luigi's, because task ids hash it."""
        return str(x)

    def normalize(self, x: Any) -> Any:
        """The canonical form of an accepted value (rounding, freezing, validation)."""
        return x

    def accept(self, x: Any) -> Any:
        """Normalize a value given in code or as a default (parsing strings if allowed)."""
        if self.coerce_strings and isinstance(x, str):
            x = self.parse(x)
        return self.normalize(x)

    def parse_list(self, xs: list[str]) -> Any:
        """Combine several texts into one value with ``batch_method`` (batched tasks)."""
        if self.batch_method is None:
            raise TaskDefinitionError("this parameter has no batch_method; it cannot take a list")
        if not xs:
            raise ValueError("an empty list of values cannot be combined")
        return self.batch_method(map(self.parse, xs))

    def is_batchable(self) -> bool:
        return self.batch_method is not None

    _is_batchable = is_batchable  # Luigi's name

    def next_in_enumeration(self, value: Any) -> Any:
        """The next value in a natural ordering (for summaries), or None."""
        return None

    # -- defaults ------------------------------------------------------------------------
    @property
    def default(self) -> Any:
        return self._default

    @property
    def has_default(self) -> bool:
        return self._default is not NO_VALUE

    def configured_value(self, family: str, name: str) -> tuple[Any, str] | None:
        """``(raw value, where it came from)`` from settings or config files, or None."""
        option = _normalise_option(name)
        django_values = django_task_config(family)
        if option in django_values:
            return django_values[option], f"PIPELINES_TASK_CONFIG[{family!r}]"
        file_values = file_task_config(family)
        if option in file_values:
            return file_values[option], f"[{family}] in the Luigi configuration"
        if self.config_path is not None:
            section, legacy = self.config_path["section"], self.config_path["name"]
            legacy_values = file_task_config(section)
            if _normalise_option(legacy) in legacy_values:
                where = f"[{section}] {legacy} in the Luigi configuration"
                return legacy_values[_normalise_option(legacy)], where
        return None

    def value_from_config(self, raw: Any) -> Any:
        """A configured value: text is parsed, native (TOML/settings) values taken as is."""
        return self.parse(raw) if isinstance(raw, str) else raw

    def __repr__(self) -> str:
        name = f" {self._attribute_name!r}" if self._attribute_name else ""
        return f"<{type(self).__name__}{name}>"


class OptionalParameterMixin:
    """Makes a parameter accept ``None`` (default), serialised as the empty string."""

    def __init__(self, default: Any = None, **kwargs: Any) -> None:
        super().__init__(default, **kwargs)  # type: ignore[call-arg]

    def serialize(self, x: Any) -> str:
        return "" if x is None else super().serialize(x)  # type: ignore[misc]

    def parse(self, x: Any) -> Any:
        if not isinstance(x, str):
            return x
        return super().parse(x) if x else None  # type: ignore[misc]

    def normalize(self, x: Any) -> Any:
        return None if x is None else super().normalize(x)  # type: ignore[misc]

    def accept(self, x: Any) -> Any:
        return None if x is None else super().accept(x)  # type: ignore[misc]


class OptionalParameter(OptionalParameterMixin, Parameter):
    """A string parameter that may be None (the empty string on the command line)."""

    expects = "a string (empty for None)"
