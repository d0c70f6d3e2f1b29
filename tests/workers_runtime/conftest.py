"""Fixtures for the runworker tests: real ``manage.py runworker`` subprocesses.

Workers in direct mode write to pytest-django's test database (its URL is given
to the subprocesses as DATABASE_URL), so every test here uses the transactional
database, which is emptied after each test. HTTP tests reuse the live suite's
session-wide server pool (``tests.live``), and start a real luigid of their own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.live.conftest import live_servers  # noqa: F401 - the shared server pool
from tests.live.harness import (
    ROOT,
    LiveServer,
    ServerPool,
    _clean_env,
    database_url,
    free_port,
    write_config,
)

HERE = Path(__file__).resolve().parent
MODULE = "tests.workers_runtime.pipelines"

# Short scheduler delays for the direct-mode workers (they are the scheduler there).
FAST_SCHEDULER = {
    "SCHEDULER_WORKER_DISCONNECT_DELAY": "3",
    "SCHEDULER_PRUNE_INTERVAL": "0.5",
    "SCHEDULER_RETRY_DELAY": "1",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if item.path.is_relative_to(HERE):
            item.add_marker(pytest.mark.live)
            item.add_marker(pytest.mark.django_db(transaction=True))


@dataclass
class Worker:
    process: subprocess.Popen
    out_path: Path
    err_path: Path

    def wait(self, timeout: float = 120) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
            pytest.fail(f"runworker still running after {timeout} s:\n{self.stderr[-3000:]}")

    @property
    def stdout(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def stderr(self) -> str:
        return self.err_path.read_text(errors="replace")

    def count(self, outcome: str) -> int:
        """N of the summary line ``* N <outcome>`` (0 when absent)."""
        found = re.search(rf"^\* (\d+) {re.escape(outcome)}", self.stdout, re.MULTILINE)
        return int(found.group(1)) if found else 0


class Workers:
    """Starts ``manage.py runworker`` subprocesses; stops leftovers by PID."""

    def __init__(self, workdir: Path, db_url: str, module: str = MODULE) -> None:
        self.workdir = workdir
        self.db_url = db_url
        self.module = module
        self.started: list[Worker] = []

    def env(self, **extra: str) -> dict[str, str]:
        env = _clean_env()
        env["DATABASE_URL"] = self.db_url
        env["LOG_LEVEL"] = "WARNING"
        env.update(FAST_SCHEDULER)
        env.update(extra)
        return env

    def start(self, *args: str, env: dict[str, str] | None = None) -> Worker:
        command = [sys.executable, "manage.py", "runworker", "--module", self.module, *args]
        if "--lock" not in args:
            command.append("--no-lock")
        command = [a for a in command if a != "--lock"]
        number = len(self.started)
        out_path = self.workdir / f"worker-{number}.out"
        err_path = self.workdir / f"worker-{number}.err"
        with out_path.open("wb") as out, err_path.open("wb") as err:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env or self.env(), stdout=out, stderr=err
            )
        worker = Worker(process, out_path, err_path)
        self.started.append(worker)
        return worker

    def run(self, *args: str, timeout: float = 120, env: dict[str, str] | None = None) -> Worker:
        worker = self.start(*args, env=env)
        worker.wait(timeout)
        return worker

    def stop_all(self) -> None:
        for worker in self.started:
            if worker.process.poll() is None:
                worker.process.kill()
                worker.process.wait(10)


@pytest.fixture
def workers(transactional_db: None, tmp_path: Path) -> Iterator[Workers]:
    logs = tmp_path / "logs"
    logs.mkdir()
    runner = Workers(logs, database_url())
    try:
        yield runner
    finally:
        runner.stop_all()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    path = tmp_path / "pipeline"
    path.mkdir()
    return path


@pytest.fixture
def our_server(live_servers: ServerPool, transactional_db: None) -> LiveServer:  # noqa: F811
    return live_servers.get()


@pytest.fixture(scope="session")
def luigid(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real luigid from the luigi package, on loopback."""
    directory = tmp_path_factory.mktemp("luigid")
    config = write_config(
        directory / "luigi.cfg", {"scheduler": {"state_path": str(directory / "state.pickle")}}
    )
    env = _clean_env()
    env["LUIGI_CONFIG_PATH"] = str(config)
    port = free_port()
    log_path = directory / "luigid.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [
                str(Path(sys.executable).parent / "luigid"),
                "--port",
                str(port),
                "--address",
                "127.0.0.1",
            ],
            cwd=directory,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = LiveServer("luigid", port, {}, process, log_path)
    try:
        ServerPool._wait_ready(server)
        yield server
    finally:
        server.stop()


def run_ids(root: Path) -> list[str]:
    runs = root / "runs"
    return sorted(os.listdir(runs)) if runs.is_dir() else []
