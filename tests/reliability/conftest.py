"""Fixtures of the reliability tests: worker and scheduler processes on the test database.

Every test here is live (real processes on loopback) and uses pytest-django's
transactional database, emptied after each test. Worker processes come from
``tests.workers_runtime`` (runworker) and ``tests.live`` (Luigi's CLI); the
scheduler processes the tests kill and restart are in ``processes.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.live.conftest import live_servers  # noqa: F401 - the shared server pool
from tests.live.harness import SUBPROCESS_CONFIG, LuigiRunner, database_url, write_config
from tests.reliability.processes import SchedulerProcess
from tests.workers_runtime.conftest import Workers

HERE = Path(__file__).resolve().parent
MODULE = "tests.reliability.pipelines"
LUIGI_MODULE = "tests.reliability.luigi_pipelines"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.live)
            item.add_marker(pytest.mark.django_db(transaction=True))


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "pipeline"
    (path / "out").mkdir(parents=True)
    return path


@pytest.fixture
def workers(transactional_db: None, tmp_path: Path) -> Iterator[Workers]:
    logs = tmp_path / "worker-logs"
    logs.mkdir()
    runner = Workers(logs, database_url(), module=MODULE)
    try:
        yield runner
    finally:
        runner.stop_all()


@pytest.fixture(scope="session")
def patient_client_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Luigi client config whose RPC retries outlast a scheduler restart (~15 s)."""
    core = {**SUBPROCESS_CONFIG["core"], "rpc_retry_attempts": "20", "rpc_retry_wait": "1"}
    config = {**SUBPROCESS_CONFIG, "core": core}
    return write_config(tmp_path_factory.mktemp("luigi-patient") / "luigi.cfg", config)


@pytest.fixture
def luigi_workers(
    transactional_db: None, tmp_path: Path, patient_client_config: Path
) -> Iterator[LuigiRunner]:
    logs = tmp_path / "luigi-logs"
    logs.mkdir()
    runner = LuigiRunner(logs, patient_client_config)
    try:
        yield runner
    finally:
        runner.stop_all()


@pytest.fixture
def scheduler_process(transactional_db: None, tmp_path: Path) -> Iterator[SchedulerProcess]:
    """A runscheduler of this test's own (not shared: tests kill it)."""
    process = SchedulerProcess(tmp_path, database_url())
    try:
        yield process
    finally:
        process.stop()
