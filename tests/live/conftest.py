"""Fixtures of the live suite; the machinery is in ``harness.py``.

``LIVE_BACKEND=django`` (default) or ``LIVE_BACKEND=luigid`` picks the server.
Tests ask ``live_scheduler(**options)`` for a server; under the django backend
that also pulls in pytest-django's ``transactional_db``, so the shared server's
tables are emptied after each test while the process keeps running.

Run: ``.venv/bin/python -m pytest tests/live -q`` (SQLite), with
``DATABASE_URL=postgres://postgres@127.0.0.1:5432/test`` for PostgreSQL, or with
``LIVE_BACKEND=luigid`` against the reference. Two pytest sessions in one
checkout share ``var/test.sqlite3`` and break each other; give one of them
``TOX_PARALLEL_ENV=<name>`` (pytest-django then suffixes the test database name).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.live.harness import (
    BACKEND,
    BACKENDS,
    SUBPROCESS_CONFIG,
    LiveServer,
    LuigiRunner,
    ServerPool,
    database_url,
    luigi_config,
    worker_scheduler_factory,
    write_config,
)

LIVE_DIR = Path(__file__).resolve().parent


def pytest_configure(config: pytest.Config) -> None:
    if BACKEND not in BACKENDS:
        raise pytest.UsageError(f"LIVE_BACKEND must be one of {BACKENDS}, got {BACKEND!r}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(LIVE_DIR):
            item.add_marker(pytest.mark.live)
            if BACKEND == "django":
                # Declared statically so pytest-django sets up the test database
                # (it only creates databases some collected test is marked for).
                item.add_marker(pytest.mark.django_db(transaction=True))


def pytest_report_header() -> str:
    return f"live backend: {BACKEND}"


@pytest.fixture(scope="session")
def live_servers(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerPool]:
    """Session-wide pool of scheduler processes, keyed by scheduler options."""
    url = None
    if BACKEND == "django":
        request.getfixturevalue("django_db_setup")
        url = database_url()
    pool = ServerPool(tmp_path_factory.mktemp("live-servers"), url)
    try:
        yield pool
    finally:
        pool.stop_all()


@pytest.fixture
def live_scheduler(request: pytest.FixtureRequest, live_servers: ServerPool) -> Callable:
    """``live_scheduler(**options) -> LiveServer``; tables are emptied after the test.

    Options use Luigi's ``[scheduler]`` names (``retry_delay=1``,
    ``resources={"gpu": 1}``) plus ``prune_interval``.
    """
    if BACKEND == "django":
        request.getfixturevalue("transactional_db")
    return live_servers.get


@pytest.fixture(scope="session")
def client_config_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A luigi.cfg for worker subprocesses (LUIGI_CONFIG_PATH)."""
    return write_config(tmp_path_factory.mktemp("luigi-client") / "luigi.cfg", SUBPROCESS_CONFIG)


@pytest.fixture
def run_build(live_scheduler: Callable) -> Callable:
    """``run_build(server, tasks, keep_alive=False, **build_kwargs)``: in-process luigi.build.

    Returns Luigi's detailed run result (``.status``, ``.worker``, ...).
    """
    import luigi

    def build(server: LiveServer, tasks: list, keep_alive: bool = False, **kwargs: Any):
        overrides = {"worker": {"keep_alive": str(keep_alive).lower()}}
        with luigi_config(overrides):
            return luigi.build(
                tasks,
                worker_scheduler_factory=worker_scheduler_factory(),
                scheduler_url=server.url,
                detailed_summary=True,
                **{"workers": 1, **kwargs},
            )

    return build


@pytest.fixture
def luigi_cli(
    live_scheduler: Callable, tmp_path: Path, client_config_path: Path
) -> Iterator[LuigiRunner]:
    """Start ``luigi`` CLI workers; any still running are stopped before the tables are emptied."""
    logs = tmp_path / "cli-logs"
    logs.mkdir()
    runner = LuigiRunner(logs, client_config_path)
    try:
        yield runner
    finally:
        runner.stop_all()
