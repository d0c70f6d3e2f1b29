"""Resolving a task's parameter values from arguments, configuration and defaults.

Every failure here is a ParameterError whose message names the task family
and the parameter, and (for bad values) the value and the expected format.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from workers.errors import (
    DuplicateParameterError,
    MissingParameterError,
    UnknownParameterError,
    UnparsableParameterError,
)
from workers.parameters.base import Parameter, ParameterVisibility

Params = list[tuple[str, Parameter]]


def class_params(cls: type) -> Params:
    """``(name, Parameter)`` for every parameter of ``cls`` (inherited too), in declaration order.

    A subclass attribute of the same name hides the base class's parameter.
    """
    attributes: dict[str, Any] = {}
    for klass in cls.__mro__:
        for name, value in vars(klass).items():
            attributes.setdefault(name, value)
    params = [(name, value) for name, value in attributes.items() if isinstance(value, Parameter)]
    params.sort(key=lambda item: item[1].counter)
    return params


def bad_value(
    family: str, name: str, param: Parameter, value: Any, exc: BaseException, where: str = ""
) -> UnparsableParameterError:
    message = f"{family}: parameter '{name}' expects {param.expects}, got {value!r}"
    if where:
        message += f" (from {where})"
    error = UnparsableParameterError(message)
    error.__cause__ = exc
    return error


def _accept(family: str, name: str, param: Parameter, value: Any) -> Any:
    try:
        return param.accept(value)
    except Exception as exc:
        raise bad_value(family, name, param, value, exc) from exc


def _default(family: str, name: str, param: Parameter) -> Any:
    configured = param.configured_value(family, name)
    if configured is not None:
        raw, where = configured
        try:
            return param.normalize(param.value_from_config(raw))
        except Exception as exc:
            raise bad_value(family, name, param, raw, exc, where) from exc
    if param.has_default:
        return _accept(family, name, param, param.default)
    raise MissingParameterError(
        f"{family}: missing required parameter '{name}'; pass {family}({name}=...) "
        f"or set {name} in the [{family}] section of luigi.cfg "
        f"or in PIPELINES_TASK_CONFIG[{family!r}]"
    )


def _freeze_collection(value: Any) -> Any:
    return tuple(value) if isinstance(value, list | set) else value


def resolve(
    family: str, params: Params, args: Sequence[Any], kwargs: Mapping[str, Any]
) -> list[tuple[str, Any]]:
    """The normalized value of every parameter, in ``params`` order."""
    result: dict[str, Any] = {}
    by_name = dict(params)
    positional = [(name, param) for name, param in params if param.positional]
    if len(args) > len(positional):
        raise UnknownParameterError(
            f"{family}: takes at most {len(positional)} positional parameters "
            f"({len(args)} given: {list(args)!r})"
        )
    for (name, param), value in zip(positional, args, strict=False):
        result[name] = _accept(family, name, param, value)
    for name, value in kwargs.items():
        if name in result:
            raise DuplicateParameterError(
                f"{family}: parameter '{name}' was given both positionally and by keyword"
            )
        if name not in by_name:
            known = ", ".join(by_name) or "none"
            raise UnknownParameterError(
                f"{family}: unknown parameter '{name}' (known parameters: {known})"
            )
        result[name] = _accept(family, name, by_name[name], value)
    for name, param in params:
        if name not in result:
            result[name] = _default(family, name, param)
    return [(name, _freeze_collection(result[name])) for name, _ in params]


def parse_str_params(family: str, params: Params, params_str: Mapping[str, Any]) -> dict[str, Any]:
    """Keyword arguments from text values (lists are combined for batched parameters)."""
    kwargs: dict[str, Any] = {}
    for name, param in params:
        if name not in params_str:
            continue
        text = params_str[name]
        try:
            if isinstance(text, list):
                kwargs[name] = param.parse_list(text)
            else:
                kwargs[name] = param.parse(text)
        except Exception as exc:
            raise bad_value(family, name, param, text, exc) from exc
    return kwargs


def serialize_params(
    family: str,
    params: Iterable[tuple[str, Parameter]],
    values: Mapping[str, Any],
    *,
    only_significant: bool = False,
    only_public: bool = False,
) -> dict[str, str]:
    """Text values of the selected parameters; private ones are never included."""
    texts: dict[str, str] = {}
    for name, param in params:
        if name not in values or param.visibility == ParameterVisibility.PRIVATE:
            continue
        if only_significant and not param.significant:
            continue
        if only_public and param.visibility != ParameterVisibility.PUBLIC:
            continue
        try:
            texts[name] = param.serialize(values[name])
        except Exception as exc:
            raise UnparsableParameterError(
                f"{family}: parameter '{name}' value {values[name]!r} cannot be serialized "
                f"as {param.expects}: {exc}"
            ) from exc
    return texts
