"""Processes the fault tests start, stop and kill themselves.

- ``SchedulerProcess``: ``manage.py runscheduler`` on a fixed port, which can be
  killed with SIGKILL and started again on the same port and database.
- ``PrivatePostgres``: a PostgreSQL cluster of the test's own (initdb in a temp
  directory, run as the ``postgres`` OS user since initdb refuses root), stopped
  and started with its own ``pg_ctl`` — never the machine's shared server.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

from tests.live.harness import ROOT, LiveServer, _clean_env, free_port

# Scheduler options of the fault tests' servers: dead workers are noticed fast.
FAST_OPTIONS = {
    "SCHEDULER_WORKER_DISCONNECT_DELAY": "4",
    "SCHEDULER_PRUNE_INTERVAL": "0.5",
    "SCHEDULER_RETRY_DELAY": "1",
}


class SchedulerProcess:
    """``manage.py runscheduler --port P`` against ``db_url``; restartable in place."""

    def __init__(self, workdir: Path, db_url: str, **env: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.env = _clean_env()
        self.env.update({"DATABASE_URL": db_url, "LOG_LEVEL": "INFO", **FAST_OPTIONS, **env})
        self.starts = 0
        self.server: LiveServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self, timeout: float = 30) -> LiveServer:
        self.starts += 1
        log_path = self.workdir / f"runscheduler-{self.port}-{self.starts}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "manage.py", "runscheduler", "--port", str(self.port)],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.server = LiveServer("django", self.port, {}, process, log_path)
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"runscheduler exited:\n{self.server.log_tail()}")
            try:
                requests.get(self.server.api_url("is_paused"), timeout=2)
                return self.server
            except requests.RequestException:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"runscheduler did not answer:\n{self.server.log_tail()}"
                    ) from None
                time.sleep(0.1)

    def kill(self) -> None:
        assert self.server is not None
        self.server.process.send_signal(signal.SIGKILL)
        self.server.process.wait(10)

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()


def postgres_bin() -> Path | None:
    """The newest installed PostgreSQL server's bin directory, if any."""
    base = Path("/usr/lib/postgresql")
    versions = sorted(
        (p for p in base.glob("*/bin") if (p / "initdb").exists() and (p / "pg_ctl").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    return versions[-1] if versions else None


class PrivatePostgres:
    """A throwaway PostgreSQL cluster on a free loopback port (trust auth)."""

    def __init__(self, workdir: Path) -> None:
        bindir = postgres_bin()
        assert bindir is not None, "PostgreSQL server binaries are not installed"
        self.bindir = bindir
        # Owned by the postgres OS user, outside the (root-only) pytest temp dir.
        self.base = Path(
            subprocess.run(
                ["mktemp", "-d", "/tmp/pipelines-pg-XXXXXX"],
                check=True,
                capture_output=True,
                text=True,
            ).stdout.strip()
        )
        shutil.chown(self.base, "postgres", "postgres")
        self.data = self.base / "data"
        self.port = free_port()
        self.log = self.base / "server.log"
        self.workdir = workdir

    def _as_postgres(self, *command: str, check: bool = True) -> subprocess.CompletedProcess:
        as_root = os.geteuid() == 0
        prefix = ["runuser", "-u", "postgres", "--"] if as_root else []
        return subprocess.run(
            [*prefix, *command], check=check, capture_output=True, text=True, timeout=120
        )

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def init(self) -> None:
        self._as_postgres(
            str(self.bindir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c max_connections=50"
        )
        self._as_postgres(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
            "-o", options, "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        self._as_postgres(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"
        )  # fmt: skip

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def destroy(self) -> None:
        if self.running():
            self._as_postgres(
                str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "stop",
                check=False,
            )  # fmt: skip
        shutil.rmtree(self.base, ignore_errors=True)
