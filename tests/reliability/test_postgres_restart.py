"""PostgreSQL restarted during a run: the scheduler answers 503 (never 500) while
the database is away, recovers by itself, and no task is reported done that the
database did not record.

The test starts a PostgreSQL cluster of its own (never the shared server) and
restarts it with its own ``pg_ctl``. It belongs to the PostgreSQL leg of the
suite: it needs the PostgreSQL server binaries, which that leg has.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import requests

from tests.live.harness import ROOT, _clean_env, wait_for
from tests.reliability import journal
from tests.reliability.processes import PrivatePostgres, SchedulerProcess, postgres_bin

pytestmark = [
    pytest.mark.skipif(postgres_bin() is None, reason="PostgreSQL server binaries not installed"),
    pytest.mark.postgres_only,  # the PostgreSQL leg runs it; the SQLite leg deselects it
]

N = 16


@pytest.fixture
def private_postgres(tmp_path: Path) -> Iterator[PrivatePostgres]:
    cluster = PrivatePostgres(tmp_path)
    try:
        cluster.init()
        cluster.start()
        env = _clean_env()
        env["DATABASE_URL"] = cluster.url
        migrate = subprocess.run(
            [sys.executable, "manage.py", "migrate", "--noinput"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrate.returncode == 0, migrate.stderr
        yield cluster
    finally:
        cluster.destroy()


def statuses(url: str) -> dict[str, str]:
    with psycopg.connect(url.replace("postgres://", "postgresql://")) as conn:
        rows = conn.execute("SELECT task_id, status FROM pipelines_scheduler_task").fetchall()
    return dict(rows)


def test_postgres_restart_answers_503_and_loses_no_update(
    private_postgres, workers, tmp_path, root
):
    # Workers cannot report in while the database is away; a silence longer than
    # worker_disconnect_delay would rightly count as death, so the delay is longer.
    # A call already waiting for the pool when the database goes answers 503 after
    # the pool's timeout (10 s), so the probes below wait longer than that.
    scheduler = SchedulerProcess(
        tmp_path, private_postgres.url, SCHEDULER_WORKER_DISCONNECT_DELAY="30"
    )
    server = scheduler.start()
    try:
        args = ("RelNode", "--root", str(root), "--idx", "0", "--n", str(N), "--ms", "300")
        http = ("--scheduler-url", server.url, "--keep-alive", "--wait-interval", "0.2")
        # The outage lasts the probes below (3 s, or past a 10 s pool timeout): the
        # worker is told to retry for longer than that (Luigi's [core] options), as a
        # site that restarts its database would.
        config = tmp_path / "luigi.cfg"
        config.write_text("[core]\nrpc_retry_attempts = 8\nrpc_retry_wait = 0.5\n")
        env = workers.env(LUIGI_CONFIG_PATH=str(config))
        started = [workers.start(*args, *http, "--workers", "3", env=env)]
        wait_for(lambda: len(journal.runs(root)) >= 3, 90, "the pipeline to get going")

        private_postgres.stop()
        answers: Counter[int] = Counter()
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            for method in ("task_list", "ping", "get_work"):
                data = '{"worker": "probe"}'
                reply = requests.post(server.api_url(method), data={"data": data}, timeout=20)
                answers[reply.status_code] += 1
            for path in ("api/v1/history/runs/", ""):
                answers[requests.get(server.url + path, timeout=20).status_code] += 1
            time.sleep(0.1)
        private_postgres.start()

        assert set(answers) == {503}, answers
        codes = [w.wait(120) for w in started]
        assert codes == [0], "\n".join(w.stderr[-3000:] for w in started)
        # Recovered by itself: the same server process answers again.
        assert server.process.poll() is None
        assert requests.post(server.api_url("task_list"), timeout=10).status_code == 200
    finally:
        scheduler.stop()

    stored = statuses(private_postgres.url)
    runs = journal.runs(root)
    assert journal.overlaps(runs) == []
    finished = {task_id for task_id, rs in runs.items() if any(r.end < float("inf") for r in rs)}
    assert len(stored) == N and set(stored.values()) == {"DONE"}
    assert finished == set(stored)  # every task a worker finished is DONE in the database
    reported = sum(w.count("ran successfully") for w in started)
    assert reported == N
