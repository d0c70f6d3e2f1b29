"""Single-value parameter types: numbers, booleans, choices, enums, paths, task classes."""

from __future__ import annotations

import enum
import operator
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from workers.errors import TaskDefinitionError
from workers.parameters.base import NO_VALUE, OptionalParameterMixin, Parameter


class StrParameter(Parameter):
    """A parameter whose value is always converted to ``str`` when parsed."""

    def parse(self, x: Any) -> str:
        return str(x)


class IntParameter(Parameter):
    expects = "an integer"

    def parse(self, x: str) -> int:
        return int(x)

    def next_in_enumeration(self, value: int) -> int:
        return value + 1


class OptionalIntParameter(OptionalParameterMixin, IntParameter):
    expects = "an integer (empty for None)"


class FloatParameter(Parameter):
    expects = "a number"

    def parse(self, x: str) -> float:
        return float(x)


class OptionalFloatParameter(OptionalParameterMixin, FloatParameter):
    expects = "a number (empty for None)"


class BoolParameter(Parameter):
    """True/False (any case); the default is False unless another is given."""

    expects = "a boolean (true or false)"

    def __init__(self, default: Any = NO_VALUE, *, parsing: str | None = None, **kwargs: Any):
        # ``parsing`` (implicit/explicit) only matters to a command-line parser.
        self.parsing = parsing or "implicit"
        super().__init__(False if default is NO_VALUE else default, **kwargs)

    def parse(self, x: Any) -> bool:
        text = str(x).lower()
        if text == "true":
            return True
        if text == "false":
            return False
        raise ValueError(f"cannot interpret {x!r} as a boolean")

    def normalize(self, x: Any) -> bool | None:
        return None if x is None else self.parse(x)


class OptionalBoolParameter(OptionalParameterMixin, BoolParameter):
    expects = "a boolean (true, false, or empty for None)"


class NumericalParameter(Parameter):
    """A number of ``var_type`` within bounds: ``[min_value, max_value)`` by default.

    As in Luigi, ``left_op``/``right_op`` choose open or closed ends
    (``operator.le``/``operator.lt``).
    """

    def __init__(
        self,
        default: Any = NO_VALUE,
        *,
        var_type: type | None = None,
        min_value: Any = None,
        max_value: Any = None,
        left_op: Callable[[Any, Any], bool] = operator.le,
        right_op: Callable[[Any, Any], bool] = operator.lt,
        **kwargs: Any,
    ) -> None:
        for name, value in (("var_type", var_type), ("min_value", min_value)):
            if value is None:
                raise TaskDefinitionError(f"NumericalParameter needs {name}")
        if max_value is None:
            raise TaskDefinitionError("NumericalParameter needs max_value")
        assert var_type is not None
        self.var_type = var_type
        self.min_value = min_value
        self.max_value = max_value
        self.left_op = left_op
        self.right_op = right_op
        left = "[" if left_op == operator.le else "("
        right = ")" if right_op == operator.lt else "]"
        self.permitted_range = f"{var_type.__name__} in {left}{min_value}, {max_value}{right}"
        super().__init__(default, **kwargs)
        prefix = f"{self.description} " if self.description else ""
        self.description = f"{prefix}permitted values: {self.permitted_range}"
        self.expects = f"a number ({self.permitted_range})"

    def _check(self, value: Any) -> Any:
        if self.left_op(self.min_value, value) and self.right_op(value, self.max_value):
            return value
        raise ValueError(f"{value} is not in the set of {self.permitted_range}")

    def parse(self, x: str) -> Any:
        return self._check(self.var_type(x))

    def normalize(self, x: Any) -> Any:
        return self._check(x)


class OptionalNumericalParameter(OptionalParameterMixin, NumericalParameter):
    pass


class ChoiceParameter(Parameter):
    """One of a fixed set of ``choices`` of type ``var_type`` (default ``str``)."""

    def __init__(
        self,
        default: Any = NO_VALUE,
        *,
        choices: Sequence[Any] | None = None,
        var_type: type = str,
        **kwargs: Any,
    ) -> None:
        if choices is None:
            raise TaskDefinitionError("ChoiceParameter needs choices")
        self.choices = list(dict.fromkeys(choices))
        self.var_type = var_type
        wrong = [c for c in self.choices if type(c) is not var_type]
        if wrong:
            raise TaskDefinitionError(f"choices {wrong!r} are not of type {var_type.__name__}")
        super().__init__(default, **kwargs)
        listed = ", ".join(str(choice) for choice in self.choices)
        prefix = f"{self.description} " if self.description else ""
        self.description = f"{prefix}Choices: {{{listed}}}"
        self.expects = f"one of {{{listed}}}"

    def parse(self, x: str) -> Any:
        return self.normalize(self.var_type(x))

    def normalize(self, x: Any) -> Any:
        if x in self.choices:
            return x
        raise ValueError(f"{x} is not a valid choice from {set(self.choices)}")


class OptionalChoiceParameter(OptionalParameterMixin, ChoiceParameter):
    pass


class ChoiceListParameter(ChoiceParameter):
    """A comma-separated tuple of choices (order kept, duplicates allowed)."""

    def __init__(self, default: Any = NO_VALUE, **kwargs: Any) -> None:
        super().__init__(default, **kwargs)
        self.expects = f"comma-separated values from {self.expects.removeprefix('one of ')}"

    def parse(self, x: str) -> tuple[Any, ...]:
        return self.normalize(map(self.var_type, x.split(",") if x else []))

    def normalize(self, x: Iterable[Any]) -> tuple[Any, ...]:
        return tuple(ChoiceParameter.normalize(self, item) for item in x)

    def serialize(self, x: Iterable[Any]) -> str:
        return ",".join(x)


class EnumParameter(Parameter):
    """A member of ``enum``, written as the member's name."""

    coerce_strings = True

    def __init__(self, default: Any = NO_VALUE, *, enum: type[enum.Enum] | None = None, **kw):
        if enum is None:
            raise TaskDefinitionError("EnumParameter needs enum=<an Enum class>")
        self.enum = enum
        self.expects = "one of " + ", ".join(member.name for member in enum)
        super().__init__(default, **kw)

    def parse(self, x: str) -> enum.Enum:
        try:
            return self.enum[x]
        except KeyError:
            raise ValueError(f"{x!r} is not a member of {self.enum.__name__}") from None

    def accept(self, x: Any) -> Any:
        if isinstance(x, str) and not isinstance(x, self.enum):
            x = self.parse(x)
        return self.normalize(x)

    def serialize(self, x: enum.Enum) -> str:
        return x.name


class EnumListParameter(Parameter):
    """A comma-separated tuple of ``enum`` members, written by name."""

    def __init__(self, default: Any = NO_VALUE, *, enum: type[enum.Enum] | None = None, **kw):
        if enum is None:
            raise TaskDefinitionError("EnumListParameter needs enum=<an Enum class>")
        self.enum = enum
        self.expects = "comma-separated names from " + ", ".join(m.name for m in enum)
        super().__init__(default, **kw)

    def parse(self, x: str) -> tuple[enum.Enum, ...]:
        members = []
        for index, name in enumerate(x.split(",") if x else []):
            try:
                members.append(self.enum[name])
            except KeyError:
                raise ValueError(
                    f"{name!r} (item {index}) is not in {self.enum.__name__}"
                ) from None
        return tuple(members)

    def serialize(self, x: Iterable[enum.Enum]) -> str:
        return ",".join(member.name for member in x)


class PathParameter(Parameter):
    """A :class:`pathlib.Path`; optionally made absolute or required to exist."""

    expects = "a file system path"

    def __init__(
        self, default: Any = NO_VALUE, *, absolute: bool = False, exists: bool = False, **kw: Any
    ) -> None:
        super().__init__(default, **kw)
        self.absolute = absolute
        self.exists = exists

    def normalize(self, x: Any) -> Path:
        path = Path(x)
        if self.absolute:
            path = path.absolute()
        if self.exists and not path.exists():
            raise ValueError(f"the path {path} does not exist")
        return path


class OptionalPathParameter(OptionalParameterMixin, PathParameter):
    pass


class TaskParameter(Parameter):
    """A Task class, written as its family name."""

    expects = "a registered task family name"
    coerce_strings = True

    def parse(self, x: str) -> type:
        from workers.registry import get_task_class

        return get_task_class(x)

    def serialize(self, x: Any) -> str:
        return x.get_task_family()
