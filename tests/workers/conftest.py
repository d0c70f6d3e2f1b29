"""Shared fixtures for the workers tests: isolated configuration and fresh task caches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import workers
from scheduler import luigi_config


@pytest.fixture(autouse=True)
def isolated_task_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """No luigi.cfg is read unless a test writes one; task instances are not shared."""
    monkeypatch.delenv("LUIGI_CONFIG_PARSER", raising=False)
    monkeypatch.setenv("LUIGI_CONFIG_PATH", str(tmp_path / "absent-luigi.cfg"))
    luigi_config.clear_cache()
    workers.clear_instance_cache()
    yield
    luigi_config.clear_cache()
    workers.clear_instance_cache()


@pytest.fixture
def luigi_cfg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """Write a luigi.cfg with the given text and make it the configuration of this test."""

    def write(text: str, name: str = "luigi.cfg") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        monkeypatch.setenv("LUIGI_CONFIG_PATH", str(path))
        luigi_config.clear_cache()
        return path

    return write
