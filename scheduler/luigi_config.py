"""Read Luigi configuration files (luigi.cfg / luigi.toml), so existing configs carry over.

Files are read in Luigi's order, later ones overriding earlier ones:
``/etc/luigi/luigi.cfg``, ``luigi.cfg`` in the working directory, then the file
named by ``LUIGI_CONFIG_PATH``. With ``LUIGI_CONFIG_PARSER=toml`` (or a path
ending in ``.toml``) the TOML variants are read instead. Option names are
normalised so dashes and underscores are interchangeable, as in Luigi.
"""

from __future__ import annotations

import configparser
import os
import tomllib
from functools import lru_cache
from pathlib import Path
from typing import Any


class ConfigFileError(ValueError):
    """A Luigi configuration file exists but cannot be parsed."""


def normalise(option: str) -> str:
    return option.strip().replace("-", "_").lower()


def candidate_paths(environ: os._Environ[str] | dict[str, str] | None = None) -> list[Path]:
    environ = os.environ if environ is None else environ
    use_toml = environ.get("LUIGI_CONFIG_PARSER", "cfg").lower() == "toml"
    ext = "toml" if use_toml else "cfg"
    paths = [Path(f"/etc/luigi/luigi.{ext}"), Path.cwd() / f"luigi.{ext}"]
    if environ.get("LUIGI_CONFIG_PATH"):
        paths.append(Path(environ["LUIGI_CONFIG_PATH"]))
    return paths


def _read_cfg(path: Path) -> dict[str, dict[str, Any]]:
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read(path, encoding="utf-8")
    except configparser.Error as exc:
        raise ConfigFileError(f"cannot parse Luigi config file {path}: {exc}") from exc
    return {
        section: {normalise(k): v for k, v in parser.items(section)}
        for section in parser.sections()
    }


def _read_toml(path: Path) -> dict[str, dict[str, Any]]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigFileError(f"cannot parse Luigi config file {path}: {exc}") from exc
    return {
        section: {normalise(k): v for k, v in values.items()}
        for section, values in data.items()
        if isinstance(values, dict)
    }


def read_files(paths: list[Path]) -> dict[str, dict[str, Any]]:
    """Merge the sections of every existing file in ``paths``, later files winning."""
    merged: dict[str, dict[str, Any]] = {}
    for path in paths:
        if not path.is_file():
            continue
        sections = _read_toml(path) if path.suffix == ".toml" else _read_cfg(path)
        for section, values in sections.items():
            merged.setdefault(section, {}).update(values)
    return merged


@lru_cache(maxsize=1)
def _cached(key: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    return read_files([Path(p) for p in key])


def load() -> dict[str, dict[str, Any]]:
    """The merged Luigi configuration of this process (cached per set of paths)."""
    return _cached(tuple(str(p) for p in candidate_paths()))


def clear_cache() -> None:
    _cached.cache_clear()


def section(name: str) -> dict[str, Any]:
    return dict(load().get(name, {}))
