"""A real ``manage.py runscheduler`` on loopback against the test database."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.live.harness import ROOT, _clean_env, database_url, free_port


@dataclass
class Scheduler:
    url: str
    process: subprocess.Popen
    log: Path

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])


@contextmanager
def runscheduler(workdir: Path, **env: str) -> Iterator[Scheduler]:
    port = free_port()
    environment = _clean_env()
    environment.update({"DATABASE_URL": database_url(), "LOG_LEVEL": "WARNING", **env})
    log = workdir / f"runscheduler-{port}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "runscheduler", "--port", str(port)],
            cwd=ROOT,
            env=environment,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Scheduler(f"http://127.0.0.1:{port}/", process, log)
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"runscheduler exited:\n{server.log_tail()}")
            try:
                requests.head(server.url, timeout=2)
                break
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"runscheduler did not start:\n{server.log_tail()}"
                    ) from None
                time.sleep(0.1)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
