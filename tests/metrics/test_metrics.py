"""/metrics: Luigi's metric names and our gauges and histograms, after real runs."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from scheduler.metrics.store import increments
from tests.auth.server import Scheduler, runscheduler
from tests.live.harness import ROOT, _clean_env, database_url


def test_increments_follow_luigis_collector():
    assert increments("PENDING", "RUNNING", "get_work", 10.0, 10.0) == [
        ("luigi_task_started_total", "", 1)
    ]
    ran = increments("RUNNING", "DONE", "add_task", 17.5, 10.0)
    assert ran == [
        ("luigi_task_done_total", "", 1),
        ("luigi_task_execution_time_seconds", "", 7.5),
        ("pipelines_task_duration_seconds", "10.0", 1),
        ("pipelines_task_duration_seconds", "sum", 7.5),
    ]
    # A task that never ran (marked done, or reported DISABLED by a worker): a count only,
    # never a duration (luigid's collector fails on these).
    assert increments("PENDING", "DONE", "mark_as_done", 5.0, None) == [
        ("luigi_task_done_total", "", 1)
    ]
    assert increments("PENDING", "DISABLED", "add_task", 5.0, None) == [
        ("luigi_task_disabled_total", "", 1)
    ]
    assert increments("PENDING", "PENDING", "add_task", 5.0, None) == []


@pytest.fixture
def server(transactional_db: None, tmp_path: Path) -> Iterator[Scheduler]:
    with runscheduler(tmp_path, SCHEDULER_RETRY_DELAY="600") as scheduler:
        yield scheduler


def runworker(*args: str, url: str | None = None) -> subprocess.CompletedProcess:
    command = [
        sys.executable,
        "manage.py",
        "runworker",
        "--module",
        "tests.workers_runtime.pipelines",
        *args,
        "--no-lock",
        "--no-summary",
    ]
    if url:
        command += ["--scheduler-url", url]
    env = {**_clean_env(), "DATABASE_URL": database_url(), "LOG_LEVEL": "WARNING"}
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=90)


def scrape(server: Scheduler) -> dict[tuple[str, tuple], float]:
    reply = requests.get(f"{server.url}metrics", timeout=10)
    assert reply.status_code == 200 and reply.headers["Content-Type"].startswith("text/plain")
    values = {}
    for family in text_string_to_metric_families(reply.text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


@pytest.mark.live
def test_metrics_after_runs_over_http_and_through_the_database(server: Scheduler, tmp_path):
    # Over HTTP: Ok is done, Failing fails, AfterFailing and the wrapper stay pending.
    http = runworker("FailureRoot", "--root", str(tmp_path / "a"), url=server.url)
    assert http.returncode != 0, http.stderr[-2000:]
    # In another process, through the database (no server involved): 5 nodes done.
    direct = runworker("Node", "--root", str(tmp_path / "b"), "--idx", "0", "--n", "5")
    assert direct.returncode == 0, direct.stderr[-2000:]

    values = scrape(server)

    def value(name: str, **labels: str) -> float:
        return values.get((name, tuple(sorted(labels.items()))), 0.0)

    assert value("luigi_task_started_total", family="Ok") == 1
    assert value("luigi_task_done_total", family="Ok") == 1
    assert value("luigi_task_started_total", family="Failing") == 1
    assert value("luigi_task_failed_total", family="Failing") == 1
    assert value("luigi_task_done_total", family="Failing") == 0
    assert value("luigi_task_started_total", family="Node") == 5
    assert value("luigi_task_done_total", family="Node") == 5
    assert value("luigi_task_execution_time_seconds", family="Node") >= 0
    assert value("pipelines_task_duration_seconds_count", family="Node") == 5
    assert value("pipelines_task_duration_seconds_bucket", family="Node", le="+Inf") == 5
    assert value("pipelines_task_duration_seconds_count", family="Failing") == 1
    assert 0 < value("pipelines_task_duration_seconds_sum", family="Node") < 60
    assert value("pipelines_tasks", status="DONE") == 6
    assert value("pipelines_tasks", status="FAILED") == 1
    assert value("pipelines_tasks", status="PENDING") == 2
    assert value("pipelines_workers_alive") >= 1
    # RPC latency, observed by this server only (the direct worker made no HTTP calls).
    # runworker registers its 4 tasks with one add_tasks call, asks for its first task
    # with get_work, then reports each finished task with the next request for work.
    assert value("pipelines_rpc_duration_seconds_count", method="add_tasks") == 1
    assert value("pipelines_rpc_duration_seconds_count", method="get_work") >= 1
    assert value("pipelines_rpc_duration_seconds_count", method="report_and_get_work") >= 2
    assert value("pipelines_rpc_duration_seconds_count", method="task_list") == 0


@pytest.mark.django_db
def test_resources_in_use_and_limits(client):
    from django.test import override_settings

    from scheduler import rpc

    with override_settings(SCHEDULER={"resources": "db=3"}):
        rpc.call(
            "add_task",
            {
                "worker": "w",
                "task_id": "R1",
                "family": "R",
                "status": "PENDING",
                "resources": {"db": 2},
            },
        )
        work = rpc.call("get_work", {"worker": "w"})
        assert work["task_id"] == "R1"
        reply = client.get("/metrics")  # auth off: anonymous reads
        text = reply.content.decode()
    families = {f.name: f for f in text_string_to_metric_families(text)}
    in_use = {s.labels["resource"]: s.value for s in families["pipelines_resource_in_use"].samples}
    limit = {s.labels["resource"]: s.value for s in families["pipelines_resource_limit"].samples}
    assert in_use == {"db": 2} and limit == {"db": 3}
    alive = families["pipelines_workers_alive"].samples[0].value
    assert alive == 1
