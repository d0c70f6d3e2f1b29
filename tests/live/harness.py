"""Live-server harness: real scheduler processes on loopback, real Luigi clients.

``LIVE_BACKEND`` picks the server under test:

- ``django`` (default): ``daphne pipelines_project.asgi:application`` against
  pytest-django's test database, options as ``SCHEDULER_<OPTION>`` variables;
- ``luigid``: the reference implementation (``.venv/bin/luigid``), options in a
  generated ``luigi.cfg``. Every test must also pass here, which keeps the tests
  honest about what Luigi really does.

Servers are started on demand, one per distinct set of scheduler options, and
shared by every test asking for the same options; all state lives in the
database, which pytest-django's ``transactional_db`` empties after each test.
Under ``luigid`` state lives in process memory and is never emptied, so tests
keep their task ids unique (every pipeline task takes a per-test ``root``).

luigid prunes (retries FAILED tasks, drops silent workers) only on a hard-coded
60 s timer or when a read method runs. Our server takes ``prune_interval`` for
that; for luigid the harness emulates it with a thread calling the ``prune``
RPC every ``prune_interval`` seconds, so the same timing-based tests run
against both.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
BACKEND = os.environ.get("LIVE_BACKEND", "django")
BACKENDS = ("django", "luigid")

# Defaults every live server gets unless a test overrides them.
DEFAULT_OPTIONS: dict[str, Any] = {"prune_interval": 0.5}

# The Luigi client side: fast retries and heartbeats, and exit codes that tell
# failure from success (Luigi's defaults map almost everything to 0).
# RPC options are read by RemoteScheduler straight from the config; in-process
# they are applied only while it is constructed (``remote_scheduler``), because
# luigi.build warns (UnconsumedParameterWarning) about [core] keys that are not
# parameters of its ``core`` class.
RPC_OPTIONS: dict[str, str] = {
    "rpc_retry_attempts": "3",
    "rpc_retry_wait": "1",
    "rpc_connect_timeout": "10",
}
CLIENT_CONFIG: dict[str, dict[str, str]] = {
    "core": {"no_lock": "true", "log_level": "INFO"},
    "worker": {
        "ping_interval": "0.2",
        "wait_interval": "0.1",
        "wait_jitter": "0.1",
        "keep_alive": "false",
        "send_failure_email": "false",
        "no_install_shutdown_handler": "true",
    },
    "retcode": {
        "unhandled_exception": "4",
        "missing_data": "20",
        "task_failed": "30",
        "scheduling_error": "35",
        # A keep-alive worker whose root task another worker ran ends with its
        # root "not run" by itself: that is success for the multi-worker tests.
        "not_run": "0",
        "already_running": "0",
    },
}
SUBPROCESS_CONFIG = {**CLIENT_CONFIG, "core": {**CLIENT_CONFIG["core"], **RPC_OPTIONS}}

STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0


def skip_on_luigid(reason: str) -> pytest.MarkDecorator:
    """Skip only when running against the reference luigid (its known bugs)."""
    return pytest.mark.skipif(BACKEND == "luigid", reason=f"luigid: {reason}")


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _options_key(options: dict[str, Any]) -> tuple:
    def freeze(value: Any) -> Any:
        return tuple(sorted(value.items())) if isinstance(value, dict) else value

    return tuple(sorted((name, freeze(value)) for name, value in options.items()))


@dataclass
class LiveServer:
    """A running scheduler process and the ways tests talk to it."""

    backend: str
    port: int
    options: dict[str, Any]
    process: subprocess.Popen
    log_path: Path
    _stop: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def api_url(self, method: str) -> str:
        return f"{self.url}api/{method}"

    def call(self, method: str, **arguments: Any) -> Any:
        """POST one RPC the way Luigi workers do; return the unwrapped response."""
        reply = requests.post(
            self.api_url(method), data={"data": json.dumps(arguments)}, timeout=30
        )
        if reply.status_code != 200:
            raise AssertionError(
                f"{method} answered {reply.status_code}: {reply.text[:1000]}\n"
                f"--- server log ---\n{self.log_tail(30)}"
            )
        return reply.json()["response"]

    def task_list(self, status: str = "", **arguments: Any) -> dict[str, dict]:
        return self.call("task_list", status=status, **arguments)

    def tasks_under(self, root: str | Path) -> dict[str, dict]:
        """Every task of this test (the per-test root parameter), keyed by task id."""
        root = str(root)
        return {
            task_id: task
            for task_id, task in self.task_list().items()
            if task.get("params", {}).get("root") == root
        }

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> None:
        self._stop.set()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)


class ServerPool:
    """Starts one server per distinct option set; stops them all at the end."""

    def __init__(self, workdir: Path, database_url: str | None) -> None:
        self.workdir = workdir
        self.database_url = database_url
        self.servers: dict[tuple, LiveServer] = {}

    def get(self, isolate: str = "", **options: Any) -> LiveServer:
        """The server for ``options``, started on first use.

        ``isolate`` names a group of tests that must not share luigid's in-memory
        state with the others (e.g. inputs that corrupt it); with the django
        backend the tables are emptied after every test, so it is ignored.
        """
        options = {**DEFAULT_OPTIONS, **options}
        key = _options_key(options)
        if BACKEND == "luigid" and isolate:
            key = (*key, ("isolate", isolate))
        server = self.servers.get(key)
        if server is None:
            server = self.servers[key] = self._start(options)
        elif server.process.poll() is not None:
            # A crash is a finding, not something to paper over with a restart.
            pytest.fail(
                f"the {server.backend} server for {options} exited with "
                f"{server.process.returncode}:\n{server.log_tail()}"
            )
        return server

    def stop_all(self) -> None:
        for server in self.servers.values():
            server.stop()

    def _start(self, options: dict[str, Any]) -> LiveServer:
        port = free_port()
        name = f"{BACKEND}-{port}"
        log_path = self.workdir / f"{name}.log"
        if BACKEND == "django":
            command, env = self._django_command(port, options)
        else:
            command, env = self._luigid_command(port, options, self.workdir / name)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        server = LiveServer(BACKEND, port, options, process, log_path)
        try:
            self._wait_ready(server)
        except BaseException:
            server.stop()
            raise
        if BACKEND == "luigid" and options.get("prune_interval"):
            threading.Thread(
                target=_prune_forever, args=(server,), daemon=True, name=f"pruner-{port}"
            ).start()
        return server

    def _django_command(self, port: int, options: dict[str, Any]) -> tuple[list, dict]:
        env = _clean_env()
        env["DATABASE_URL"] = self.database_url or ""
        env["LOG_LEVEL"] = os.environ.get("LIVE_SERVER_LOG_LEVEL", "INFO")
        for name, value in options.items():
            if name == "resources":
                value = ",".join(f"{res}={amount}" for res, amount in sorted(value.items()))
            env[f"SCHEDULER_{name.upper()}"] = str(value)
        command = [
            str(BIN / "daphne"),
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "pipelines_project.asgi:application",
        ]
        return command, env

    def _luigid_command(
        self, port: int, options: dict[str, Any], directory: Path
    ) -> tuple[list, dict]:
        directory.mkdir(parents=True)
        scheduler = {"state_path": str(directory / "state.pickle")}
        scheduler.update(
            {name: str(value) for name, value in options.items() if name != "resources"}
        )
        scheduler.pop("prune_interval", None)  # emulated by _prune_forever
        sections = {"scheduler": scheduler, "resources": options.get("resources", {})}
        config_path = directory / "luigi.cfg"
        write_config(config_path, sections)
        env = _clean_env()
        env["LUIGI_CONFIG_PATH"] = str(config_path)
        command = [str(BIN / "luigid"), "--port", str(port), "--address", "127.0.0.1"]
        return command, env

    @staticmethod
    def _wait_ready(server: LiveServer) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                raise RuntimeError(
                    f"{server.backend} server exited with {server.process.returncode}:\n"
                    f"{server.log_tail()}"
                )
            try:
                requests.get(server.api_url("is_paused"), timeout=2)
                return  # any HTTP answer means it is serving
            except requests.RequestException:
                time.sleep(0.1)
        raise RuntimeError(
            f"{server.backend} server on port {server.port} did not answer within "
            f"{STARTUP_TIMEOUT} s:\n{server.log_tail()}"
        )


def _prune_forever(server: LiveServer) -> None:
    interval = float(server.options["prune_interval"])
    with requests.Session() as session:
        while not server._stop.wait(interval):
            with contextlib.suppress(requests.RequestException):
                session.post(server.api_url("prune"), data={"data": "{}"}, timeout=10)


def _clean_env() -> dict[str, str]:
    """This process's environment minus anything that configures a scheduler."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SCHEDULER_", "LUIGI_CONFIG"))
        and key not in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE")
    }
    env["PYTHONPATH"] = str(ROOT)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def write_config(path: Path, sections: dict[str, dict[str, Any]]) -> Path:
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines.extend(f"{name} = {value}" for name, value in values.items())
        lines.append("")
    path.write_text("\n".join(lines))
    return path


def database_url() -> str:
    from django.db import connection

    settings = connection.settings_dict
    if settings["ENGINE"] == "django.db.backends.sqlite3":
        name = str(settings["NAME"])
        assert not name.startswith(("file:", ":memory:")), (
            f"the live server needs a file test database, not {name!r}"
        )
        return f"sqlite:///{Path(name).resolve()}"
    user = settings.get("USER") or ""
    password = settings.get("PASSWORD") or ""
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = settings.get("HOST") or "127.0.0.1"
    port = f":{settings['PORT']}" if settings.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{settings['NAME']}"


# --------------------------------------------------------------------------- clients


@contextlib.contextmanager
def luigi_config(
    overrides: dict[str, dict[str, str]] | None = None, base: dict | None = None
) -> Iterator[None]:
    """Apply ``base`` (the client config) plus overrides to this process's Luigi config.

    Everything set is restored on exit.
    """
    from luigi import configuration

    config = configuration.get_config()
    base = CLIENT_CONFIG if base is None else base
    sections = {section: dict(values) for section, values in base.items()}
    for section, values in (overrides or {}).items():
        sections.setdefault(section, {}).update(values)
    saved: list[tuple[str, str, str | None]] = []
    for section, values in sections.items():
        if not config.has_section(section):
            config.add_section(section)
        for option, value in values.items():
            old = (
                config.get(section, option, raw=True)
                if config.has_option(section, option)
                else None
            )
            saved.append((section, option, old))
            config.set(section, option, value)
    try:
        yield
    finally:
        for section, option, old in reversed(saved):
            if old is None:
                config.remove_option(section, option)
            else:
                config.set(section, option, old)


def remote_scheduler(url: str, **rpc_options: str):
    """A ``luigi.rpc.RemoteScheduler`` with the suite's retry settings (and overrides)."""
    from luigi.rpc import RemoteScheduler

    with luigi_config(base={"core": {**RPC_OPTIONS, **rpc_options}}):
        return RemoteScheduler(url=url)


def worker_scheduler_factory():
    """For ``luigi.build``: remote schedulers created with the suite's RPC settings."""
    from luigi.interface import _WorkerSchedulerFactory

    class Factory(_WorkerSchedulerFactory):
        def create_remote_scheduler(self, url: str):
            return remote_scheduler(url)

    return Factory()


@dataclass
class LuigiProcess:
    """A ``luigi`` command-line worker started by a test."""

    process: subprocess.Popen
    log_path: Path

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait(self, timeout: float = 120) -> int:
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            tail = "\n".join(self.output().splitlines()[-40:])
            pytest.fail(f"luigi pid {self.pid} still running after {timeout} s:\n{tail}")

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")


class LuigiRunner:
    """Starts ``.venv/bin/luigi`` subprocesses and stops the leftovers by PID."""

    def __init__(self, workdir: Path, config_path: Path) -> None:
        self.workdir = workdir
        self.config_path = config_path
        self.started: list[LuigiProcess] = []

    def start(
        self,
        server: LiveServer,
        task: str,
        *args: str,
        workers: int = 1,
        keep_alive: bool = False,
        module: str = "tests.live.pipelines",
    ) -> LuigiProcess:
        command = [
            str(BIN / "luigi"),
            "--module",
            module,
            task,
            *args,
            "--scheduler-url",
            server.url,
            "--workers",
            str(workers),
            "--no-lock",
        ]
        if keep_alive:
            command.append("--worker-keep-alive")
        env = _clean_env()
        env["LUIGI_CONFIG_PATH"] = str(self.config_path)
        log_path = self.workdir / f"luigi-{len(self.started)}-{uuid.uuid4().hex[:6]}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        started = LuigiProcess(process, log_path)
        self.started.append(started)
        return started

    def stop_all(self) -> None:
        for started in self.started:
            if started.process.poll() is None:
                started.process.terminate()
                try:
                    started.process.wait(STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    started.process.kill()
                    started.process.wait(STOP_TIMEOUT)


def wait_for(predicate: Callable[[], Any], timeout: float, message: str, poll: float = 0.1) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail with ``message``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout} s: {message}")
        time.sleep(poll)
