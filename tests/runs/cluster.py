"""A real ``manage.py qcluster`` on pytest-django's test database (ORM broker)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.live.harness import ROOT, _clean_env, database_url

ALLOWED = "examples.daily,tests.runs.pipelines"


@contextmanager
def qcluster(workdir: Path, **env: str) -> Iterator[subprocess.Popen]:
    environment = _clean_env()
    environment.update(
        {
            "DATABASE_URL": database_url(),
            "PIPELINES_ALLOWED_MODULES": ALLOWED,
            "PIPELINES_DATA_DIR": str(workdir / "data"),
            "LOG_LEVEL": "INFO",
            "Q_WORKERS": "1",
            **env,
        }
    )
    log = workdir / "qcluster.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "qcluster"],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped with its children
        )
    process.log = log  # type: ignore[attr-defined]
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(20)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # anything of the cluster still left
        process.wait(10)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str, log: Path) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
    message = f"timed out after {timeout} s waiting for {what}\n--- qcluster ---\n{tail}"
    raise AssertionError(message)
