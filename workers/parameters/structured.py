"""JSON-shaped parameter types: dicts, lists and tuples.

Values are frozen (dicts become FrozenOrderedDict, lists become tuples) so tasks
stay hashable; they serialise as JSON text with Luigi's default separators
(``{"a": 1}``, ``[1, 2]``), keys in insertion order.
"""

from __future__ import annotations

import ast
from typing import Any

from workers.errors import TaskDefinitionError
from workers.parameters.base import NO_VALUE, OptionalParameterMixin, Parameter
from workers.parameters.freezing import dumps, freeze, loads, unfreeze


def _validator(schema: Any) -> Any:
    if schema is None:
        return None
    if hasattr(schema, "validate"):  # an already-built jsonschema validator
        return schema
    try:
        import jsonschema
    except ImportError:
        raise TaskDefinitionError(
            "a parameter schema needs the 'jsonschema' package; install it or drop schema="
        ) from None
    return jsonschema.validators.validator_for(schema)(schema)


class _JSONParameter(Parameter):
    def __init__(self, default: Any = NO_VALUE, *, schema: Any = None, **kwargs: Any) -> None:
        self.schema = _validator(schema)
        super().__init__(default, **kwargs)

    def normalize(self, x: Any) -> Any:
        if self.schema is not None:
            self.schema.validate(unfreeze(x))
        return freeze(x)

    def serialize(self, x: Any) -> str:
        return dumps(x)


class DictParameter(_JSONParameter):
    """A dict, written as a JSON object."""

    expects = 'a JSON object like {"key": "value"}'

    def parse(self, x: Any) -> Any:
        return loads(x) if isinstance(x, str) else x


class OptionalDictParameter(OptionalParameterMixin, DictParameter):
    pass


class ListParameter(_JSONParameter):
    """A list (held as a tuple), written as a JSON array."""

    expects = "a JSON array like [1, 2]"

    def parse(self, x: str) -> Any:
        value = loads(x)
        return None if value is None else list(value)


class OptionalListParameter(OptionalParameterMixin, ListParameter):
    pass


class TupleParameter(ListParameter):
    """A tuple (of tuples), written as a JSON array; Python literals are accepted too."""

    expects = "a JSON array like [[1, 2], [3, 4]] or a Python tuple literal"

    def parse(self, x: str) -> tuple[Any, ...]:
        try:
            return tuple(item if isinstance(item, str) else tuple(item) for item in loads(x))
        except (ValueError, TypeError):
            result = ast.literal_eval(x)
            if isinstance(result, str):
                raise ValueError("a tuple parameter cannot be a string") from None
            return tuple(result)


class OptionalTupleParameter(OptionalParameterMixin, TupleParameter):
    pass
