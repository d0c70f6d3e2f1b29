"""``manage.py runscheduler`` as a real process on loopback.

One shared server (started through ``tests.live.harness``) takes WebSocket
subscribers while pipelines run in two other processes: a Luigi CLI worker
over /api/ (changes committed inside the server) and ``runworker`` in direct
database mode (changes the server learns of from the outbox, or from Redis). Every
change must reach every subscriber once, in seq order, including one that
disconnects in the middle and catches up. The other tests start their own
processes: unix socket and graceful stop, background mode, refusals.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.db import connections

from scheduler.models import StatusEvent
from tests.live.harness import (
    BACKEND,
    ROOT,
    SUBPROCESS_CONFIG,
    LuigiRunner,
    ServerPool,
    _clean_env,
    database_url,
    free_port,
    write_config,
)
from visualiser.client import Follower, LiveClient

pytestmark = [
    pytest.mark.live,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(BACKEND != "django", reason="runscheduler is this project's server"),
]

MANAGE = [sys.executable, str(ROOT / "manage.py"), "runscheduler"]
RUNWORKER = [
    *(sys.executable, str(ROOT / "manage.py"), "runworker", "--no-lock", "--workers", "2"),
    *("--module", "tests.workers_runtime.pipelines"),
]


class RunschedulerPool(ServerPool):
    """The harness's server pool, starting ``manage.py runscheduler`` instead of daphne."""

    def _django_command(self, port: int, options: dict) -> tuple[list, dict]:
        _daphne, env = super()._django_command(port, options)
        return [*MANAGE, "--port", str(port)], env


@pytest.fixture(scope="module")
def db_url(django_db_setup: None) -> str:
    return database_url()


@pytest.fixture(scope="module")
def servers(db_url: str, tmp_path_factory: pytest.TempPathFactory):
    pool = RunschedulerPool(tmp_path_factory.mktemp("runscheduler"), db_url)
    try:
        yield pool
    finally:
        pool.stop_all()


def server_env(db_url: str) -> dict[str, str]:
    env = _clean_env()
    env["DATABASE_URL"] = db_url
    return env


def table_events(after: int) -> list[tuple]:
    rows = StatusEvent.objects.filter(id__gt=after).order_by("id")
    return [(r.id, r.task_id, r.family, r.old_status, r.new_status) for r in rows]


def in_thread(function, *args):
    """Run ``function`` on this (worker) thread's own connection, closed afterwards."""
    try:
        return function(*args)
    finally:
        connections.close_all()


def seen(follower: Follower) -> list[tuple]:
    return [
        (e["seq"], e["task_id"], e["family"], e["old_status"], e["new_status"])
        for e in follower.events
    ]


def test_every_change_reaches_subscribers_in_order_across_a_reconnect(
    servers: RunschedulerPool, db_url: str, tmp_path: Path
):
    server = servers.get()
    url = f"ws://127.0.0.1:{server.port}/ws/tasks/"
    runner = LuigiRunner(tmp_path, write_config(tmp_path / "luigi.cfg", SUBPROCESS_CONFIG))
    root = tmp_path / "work"
    log = (tmp_path / "runworker.log").open("wb")
    processes: list[subprocess.Popen] = []

    async def follow(follower: Follower, stop: asyncio.Event, *, start: bool = True) -> None:
        if start:
            await follower.start()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await follower.step(timeout=0.5)

    async def follow_with_a_gap(
        flaky: Follower, steady: Follower, pipelines_done: asyncio.Event, stop: asyncio.Event
    ) -> int:
        """Subscribe, leave right after the snapshot, stay away until the steady
        subscriber has received ten changes (or the pipelines have ended), come back
        and follow. Returns how many changes the catch-up carried."""
        await flaky.start()
        while flaky.seq is None and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await flaky.step(timeout=0.5)
        await flaky.client.close()
        while len(steady.events) < 10 and not pipelines_done.is_set():
            await asyncio.sleep(0.05)
        await flaky.start()  # asks for the changes since its snapshot's seq
        caught_up = 0
        while "catchup" not in flaky.openings and not stop.is_set():
            with contextlib.suppress(TimeoutError):
                message = await flaky.step(timeout=0.5)
                if message.get("type") == "catchup":
                    caught_up = len(message["events"])
        await follow(flaky, stop, start=False)
        return caught_up

    async def scenario() -> tuple[int, int, list[Follower]]:
        steady = Follower(url, {"subscribe": "all"})
        flaky = Follower(url, {"subscribe": "all"})
        family = Follower(url, {"subscribe": "family", "family": "Node"})
        stop, pipelines_done = asyncio.Event(), asyncio.Event()
        tasks = [
            asyncio.create_task(follow(steady, stop)),
            asyncio.create_task(follow_with_a_gap(flaky, steady, pipelines_done, stop)),
            asyncio.create_task(follow(family, stop)),
        ]
        while not all(f.seq is not None for f in (steady, flaky, family)):
            await asyncio.sleep(0.05)
        start_seq = min(f.seq for f in (steady, flaky, family))
        worker = root / "runworker"
        processes.append(
            subprocess.Popen(
                [*RUNWORKER, "Node", "--root", str(worker), "--idx", "0", "--n", "30"],
                cwd=ROOT,
                env=server_env(db_url),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )
        luigi = runner.start(server, "Load", "--root", str(root / "luigi"))
        processes.append(luigi.process)
        deadline = time.monotonic() + 90
        while any(p.poll() is None for p in processes) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)
        pipelines_done.set()
        expected = await asyncio.to_thread(in_thread, table_events, start_seq)
        while time.monotonic() < deadline and not (
            "catchup" in flaky.openings
            and all(
                len(f.events) >= len([e for e in expected if f is not family or e[2] == "Node"])
                for f in (steady, flaky, family)
            )
        ):
            await asyncio.sleep(0.1)
        stop.set()
        _, caught_up, _ = await asyncio.gather(*tasks)
        for follower in (steady, flaky, family):
            await follower.close()
        return start_seq, caught_up, [steady, flaky, family]

    try:
        start_seq, caught_up, (steady, flaky, family) = asyncio.run(scenario())
    finally:
        runner.stop_all()
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
        log.close()
    assert [p.returncode for p in processes] == [0, 0], (tmp_path / "runworker.log").read_text()
    expected = table_events(start_seq)
    # runworker: 30 Node tasks registered, run, done; Luigi: Extract, Transform, Load.
    assert len(expected) >= 3 * 33
    assert {e[2] for e in expected} == {"Node", "Extract", "Transform", "Load"}
    assert seen(steady) == expected
    assert flaky.openings == ["snapshot", "catchup"]
    assert caught_up >= 10, "the catch-up should carry the changes made while away"
    assert seen(flaky) == expected
    assert seen(family) == [e for e in expected if e[2] == "Node"]
    assert all(task["status"] == "DONE" for task in steady.tasks.values())


class UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("127.0.0.1", timeout=5)
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


def unix_get(path: Path, url: str) -> tuple[int, bytes]:
    connection = UnixHTTPConnection(str(path))
    try:
        connection.request("GET", url)
        reply = connection.getresponse()
        return reply.status, reply.read()
    finally:
        connection.close()


def wait_until(predicate, timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(message)
        time.sleep(0.1)


def test_unix_socket_and_graceful_stop(db_url: str, tmp_path: Path):
    path = tmp_path / "scheduler.sock"
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*MANAGE, "--unix-socket", str(path)],
            cwd=ROOT,
            env=server_env(db_url),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_until(path.exists, 30, f"no socket:\n{log.read_text()}")
        status, body = unix_get(path, "/api/is_paused")
        assert (status, body) == (200, b'{"response":{"paused":false}}')

        async def subscribe_then_stop() -> int | None:
            client = await LiveClient.connect("ws://127.0.0.1/ws/tasks/", unix_socket=str(path))
            await client.send({"subscribe": "all"})
            assert (await client.receive())["type"] == "snapshot"
            process.send_signal(signal.SIGTERM)
            assert await client.receive() == {"type": "closed"}
            return client.close_code

        assert asyncio.run(subscribe_then_stop()) == 1001  # "going away": reconnect elsewhere
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert not path.exists()
    assert (
        "not accepting connections; closing 1 WebSockets; finishing 0 requests" in log.read_text()
    )


def proc_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def run_command(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [*MANAGE, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_background_with_pidfile_and_a_second_instance_refused(db_url: str, tmp_path: Path):
    port = str(free_port())
    pidfile = tmp_path / "scheduler.pid"
    logdir = tmp_path / "logs"
    env = server_env(db_url)
    started = run_command(
        ["--port", port, "--background", "--pidfile", str(pidfile), "--logdir", str(logdir)], env
    )
    assert started.returncode == 0, started.stderr
    pid = int(pidfile.read_text())
    try:
        assert f"running in the background, pid {pid}" in started.stdout
        assert proc_alive(pid)
        reply = requests.get(f"http://127.0.0.1:{port}/api/is_paused", timeout=5)
        assert reply.json() == {"response": {"paused": False}}

        again = run_command(["--port", port, "--background", "--pidfile", str(pidfile)], env)
        assert again.returncode == 1
        assert f"already running with pid {pid} (pidfile {pidfile})" in again.stderr

        second = run_command(["--port", port], env)
        assert second.returncode == 1
        assert f"http://127.0.0.1:{port}/ is already in use" in second.stderr
        assert len(second.stderr.strip().splitlines()) == 1

        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not proc_alive(pid), 15, "the daemon did not stop on SIGTERM")
    finally:
        if proc_alive(pid):
            os.kill(pid, signal.SIGKILL)
    assert not pidfile.exists()
    text = (logdir / "runscheduler.log").read_text()
    assert f"runscheduler serving on http://127.0.0.1:{port}/ (pid {pid})" in text
    assert "runscheduler stopped" in text


def test_refuses_to_start_without_migrations(tmp_path: Path):
    env = server_env(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    result = run_command(["--port", str(free_port())], env)
    assert result.returncode == 1
    assert "the database is missing" in result.stderr
    assert "run `python manage.py migrate` first" in result.stderr


def test_a_configuration_error_is_reported_before_serving(tmp_path: Path):
    env = server_env(f"sqlite:///{tmp_path / 'unused.sqlite3'}")
    env["SCHEDULER_RETRY_DELAY"] = "soon"
    result = run_command(["--port", str(free_port())], env)
    assert result.returncode == 1
    assert "(scheduler.E001)" in result.stderr
    assert "retry_delay" in result.stderr
    assert "serving on" not in result.stderr


def test_bad_port_is_a_command_error(tmp_path: Path):
    result = run_command(["--port", "70000"], _clean_env())
    assert result.returncode == 1
    assert "--port must be between 1 and 65535" in result.stderr
