"""Immutable, hashable versions of JSON-like values (dict and list parameters)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from functools import reduce
from operator import xor
from typing import Any


class FrozenOrderedDict(Mapping[Any, Any]):
    """A read-only mapping that keeps insertion order and can be hashed.

    Order matters for serialisation (and so for task ids); equality and hashing
    ignore it, like a plain dict.
    """

    __slots__ = ("_data", "_hash")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._data: dict[Any, Any] = dict(*args, **kwargs)
        self._hash: int | None = None

    def __getitem__(self, key: Any) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[Any]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        return repr(self._data)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = reduce(xor, map(hash, self._data.items()), 0)
        return self._hash

    def get_wrapped(self) -> dict[Any, Any]:
        return self._data


def freeze(value: Any) -> Any:
    """Turn mappings into FrozenOrderedDicts and lists/tuples into tuples, recursively."""
    if isinstance(value, Mapping):
        return FrozenOrderedDict((key, freeze(item)) for key, item in value.items())
    if isinstance(value, list | tuple):
        return tuple(freeze(item) for item in value)
    return value


def unfreeze(value: Any) -> Any:
    """The inverse of :func:`freeze`: plain dicts and lists."""
    if isinstance(value, Mapping):
        return {key: unfreeze(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [unfreeze(item) for item in value]
    return value


class FrozenJSONEncoder(json.JSONEncoder):
    """Serialises FrozenOrderedDict like the dict it wraps."""

    def default(self, o: Any) -> Any:
        if isinstance(o, FrozenOrderedDict):
            return o.get_wrapped()
        return super().default(o)


def dumps(value: Any) -> str:
    """JSON text of a (possibly frozen) value, formatted as Luigi formats it."""
    return json.dumps(value, cls=FrozenJSONEncoder)


def loads(text: str) -> Any:
    """Parse JSON text, turning objects into FrozenOrderedDicts."""
    return json.loads(text, object_pairs_hook=FrozenOrderedDict)
